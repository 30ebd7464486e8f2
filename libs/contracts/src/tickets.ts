import { z } from 'zod';
import { ErrorClass, OnFailure } from './domain';
import { ErrorBody } from './error-body';
import { TaskBlocked, TaskLeft } from './task-changes';
import { AgentName, SpecFields, specProblems, SPEC_LIMITS, Text } from './task-spec';

export const LIMITS = {
  tasksPerTicket: 10_000,
  dependenciesPerTask: 1_000,
  stepsPerTask: 100,
  stepLength: SPEC_LIMITS.stepLength,
  stepTimeoutSeconds: SPEC_LIMITS.stepTimeoutSeconds,
  maxAttempts: 100,
  backoffSeconds: 24 * 3600,
} as const;

export const TaskKey = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,62}$/,
    'must be 1-63 characters of a-z, 0-9, "_" or "-", starting with a letter or digit',
  );

export const Priority = z.number().int().min(-1000).max(1000);

export const PIPELINE_LIMITS = {
  expressionLength: 2_000,
  phases: 100,
  labels: 50,
  descriptionLength: 65_536,
  budgetUsd: 1_000_000,
} as const;

export const PhaseName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$/,
    'must be 1-63 characters of letters, digits, " ", "_", "." or "-", starting with a letter or digit',
  );

/** A label on a ticket: `team:infra`, `nightly`. */
export const Label = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9_.:/=-]{0,62}$/,
    'must be 1-63 characters of letters, digits, "_", ".", ":", "/", "=" or "-"',
  );

/** Per-task retry settings; what is left out comes from the orchestrator's defaults. */
export const RetryInput = z
  .object({
    /** Runs at most this many times in all (1: never retried). */
    max_attempts: z.number().int().min(1).max(LIMITS.maxAttempts).optional(),
    /** First backoff delay; later ones grow by `factor` up to `max_backoff_seconds`. */
    backoff_seconds: z.number().min(0).max(LIMITS.backoffSeconds).optional(),
    factor: z.number().min(1).max(10).optional(),
    max_backoff_seconds: z.number().min(0).max(LIMITS.backoffSeconds).optional(),
    /** Error classes that are retried (replaces the default list). */
    retry_on: z.array(ErrorClass).max(ErrorClass.options.length).optional(),
  })
  .strict();
export type RetryInput = z.infer<typeof RetryInput>;

/** A duration such as "90s", "30m" or "2h", or a number of seconds. */
const Duration = z.union([
  z.number().int().positive().max(LIMITS.stepTimeoutSeconds),
  z
    .string()
    .regex(/^[1-9][0-9]{0,6}(?:s|m|h)$/, 'must be a duration such as "90s", "30m" or "2h"')
    .refine((d) => durationSeconds(d) <= LIMITS.stepTimeoutSeconds, 'must be at most 7 days'),
]);

/** Seconds in a duration as `Duration` accepts it. */
export function durationSeconds(duration: number | string): number {
  if (typeof duration === 'number') return duration;
  const unit = { s: 1, m: 60, h: 3600 }[duration.slice(-1) as 's' | 'm' | 'h'];
  return Number.parseInt(duration, 10) * unit;
}

/** A task's fields, each checked alone; `TaskInput` adds the checks across them. */
export const TaskFields = z
  .object({
    key: TaskKey,
    title: Text(1, 500).optional(),
    agent: AgentName.default('command'),
    priority: Priority.optional(),
    depends_on: z.array(TaskKey).max(LIMITS.dependenciesPerTask).default([]),
    ...SpecFields,
    /** Wall-clock limit of one run of the task; the orchestrator's default when left out. */
    timeout_seconds: z.number().int().positive().max(LIMITS.stepTimeoutSeconds).optional(),
    /** The same limit as a duration ("30m"); give one of the two. */
    timeout: Duration.optional(),
    retry: RetryInput.optional(),
    /**
     * Runs the task only when this condition over upstream steps holds, else it is
     * SKIPPED: `steps.lint.output.error_count > 0 and not (steps.lint.status == "FAILED")`.
     */
    when: Text(1, PIPELINE_LIMITS.expressionLength).optional(),
    /** `stop` (default): a failure blocks the dependents. `continue`: they run, and the ticket does not fail for it. */
    on_failure: OnFailure.optional(),
    /** Waits in AWAITING_APPROVAL, when it would be READY, until approved or rejected. */
    requires_approval: z.boolean().optional(),
    /** Fails the task when nobody decided within this time (`"24h"`, or seconds). */
    approval_timeout: Duration.optional(),
    /** The phase the task belongs to (set from `phases`; a label when given on a task). */
    phase: PhaseName.optional(),
    /** Starts from the workspace this dependency left (one of `depends_on`), not a fresh one. */
    workspace_from: TaskKey.optional(),
  })
  .strict();

export const TaskInput = TaskFields.superRefine((task, ctx) => {
  for (const problem of specProblems(task.agent, task)) {
    ctx.addIssue({ code: 'custom', path: [problem.path], message: problem.message });
  }
  if (task.approval_timeout !== undefined && !task.requires_approval) {
    ctx.addIssue({
      code: 'custom',
      path: ['approval_timeout'],
      message: 'needs requires_approval: true',
    });
  }
  if (task.timeout !== undefined && task.timeout_seconds !== undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['timeout'],
      message: 'give timeout or timeout_seconds, not both',
    });
  }
});
export type TaskInput = z.infer<typeof TaskInput>;

export const ProjectSlug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 characters of a-z, 0-9 or "-"');

/** A group of tasks that starts when every task of the phase before it has ended well. */
export const PhaseInput = z
  .object({
    name: PhaseName,
    tasks: z.array(TaskInput).min(1).max(LIMITS.tasksPerTicket),
  })
  .strict();
export type PhaseInput = z.infer<typeof PhaseInput>;

const TicketFields = z
  .object({
    title: Text(1, 500),
    project: ProjectSlug.default('default'),
    priority: Priority.default(0),
    description: Text(1, PIPELINE_LIMITS.descriptionLength).optional(),
    labels: z.array(Label).max(PIPELINE_LIMITS.labels).optional(),
    /** Spend (USD, as the agents report it) after which no further attempt starts. */
    budget_usd: z.number().positive().max(PIPELINE_LIMITS.budgetUsd).optional(),
    /**
     * `fresh` (default): every task starts in a fresh workspace. `shared`: a task
     * with dependencies starts from the workspace its first one left (unless it
     * names another with `workspace_from`).
     */
    workspace: z.enum(['fresh', 'shared']).optional(),
    tasks: z.array(TaskInput).min(1).max(LIMITS.tasksPerTicket).optional(),
    phases: z.array(PhaseInput).min(1).max(PIPELINE_LIMITS.phases).optional(),
  })
  .strict();

/**
 * The body of `POST /tickets`: `tasks`, or `phases` (each task then also waits
 * for every task of the phase before its own). Parsed, a ticket always has
 * `tasks`, with each task's `phase` and the phase dependencies spelled out.
 */
export const SubmitTicket = TicketFields.superRefine((ticket, ctx) => {
  if ((ticket.tasks === undefined) === (ticket.phases === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: ['tasks'],
      message: 'give tasks or phases (one of the two)',
    });
  }
  const total = ticket.phases?.reduce((n, p) => n + p.tasks.length, 0) ?? 0;
  if (total > LIMITS.tasksPerTicket) {
    ctx.addIssue({
      code: 'custom',
      path: ['phases'],
      message: `at most ${LIMITS.tasksPerTicket} tasks in all phases together`,
    });
  }
  const names = new Set<string>();
  for (const [i, phase] of (ticket.phases ?? []).entries()) {
    if (names.has(phase.name)) {
      ctx.addIssue({
        code: 'custom',
        path: ['phases', i, 'name'],
        message: 'duplicate phase name',
      });
    }
    names.add(phase.name);
  }
}).transform(({ phases, tasks, ...ticket }) => ({
  ...ticket,
  tasks: phases ? expandPhases(phases) : (tasks ?? []),
}));
export type SubmitTicket = z.output<typeof SubmitTicket>;
export type SubmitTicketInput = z.input<typeof SubmitTicket>;

/**
 * Phases as plain tasks: each task of a phase depends (besides its own
 * `depends_on`) on every task of the phase before. A task's own dependency on a
 * later phase's task makes a cycle, which the graph check names.
 */
export function expandPhases(phases: readonly PhaseInput[]): TaskInput[] {
  let previous: string[] = [];
  return phases.flatMap((phase) => {
    const tasks = phase.tasks.map((task) => ({
      ...task,
      phase: phase.name,
      // Its own first: with a shared workspace, the first dependency is the one it starts from.
      depends_on: [...new Set([...task.depends_on, ...previous])],
    }));
    previous = phase.tasks.map((t) => t.key);
    return tasks;
  });
}

/**
 * A task of a sweep as its document gives it: one task whose fields are each
 * checked, but not against an agent (the sweep gives each trial its agent and
 * checks the trial then: a task may carry a prompt, a solution and steps at once).
 */
export const SweepDocument = z
  .object({
    title: Text(1, 500),
    project: ProjectSlug.optional(),
    priority: Priority.optional(),
    description: Text(1, PIPELINE_LIMITS.descriptionLength).optional(),
    labels: z.array(Label).max(PIPELINE_LIMITS.labels).optional(),
    budget_usd: z.number().positive().max(PIPELINE_LIMITS.budgetUsd).optional(),
    tasks: z.array(TaskFields).length(1, 'a swept task is one task'),
  })
  .strict();
export type SweepDocument = z.output<typeof SweepDocument>;

/** A task's resolved retry and timeout policy, as stored with it. */
export interface TaskPolicy {
  maxAttempts: number;
  timeoutMs: number;
  backoffBaseMs: number;
  backoffFactor: number;
  backoffCapMs: number;
  retryOn: ErrorClass[];
}

export const CreateTicketReply = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), ticketId: z.uuid(), taskCount: z.number().int() }),
  z.object({ ok: z.literal(false), status: z.number().int(), error: ErrorBody }),
]);
export type CreateTicketReply = z.infer<typeof CreateTicketReply>;

/**
 * Cancels a ticket's open tasks, or one task (and blocks its dependents), of the
 * caller's project: another project's id is answered as not found.
 */
export const CancelRequest = z.discriminatedUnion('target', [
  z.object({ target: z.literal('ticket'), id: z.uuid(), projectId: z.uuid() }),
  z.object({ target: z.literal('task'), id: z.uuid(), projectId: z.uuid() }),
]);
export type CancelRequest = z.infer<typeof CancelRequest>;

/**
 * Runs a final task that did not succeed again (with its dependents that did not
 * succeed), or every such task of a final ticket, of the caller's project.
 */
export const RerunRequest = CancelRequest;
export type RerunRequest = CancelRequest;

export const RerunReply = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    /** Tasks that wait to run again (a new attempt each), with the final status they left. */
    rerun: z.array(TaskLeft),
  }),
  z.object({ ok: z.literal(false), status: z.number().int(), error: ErrorBody }),
]);
export type RerunReply = z.infer<typeof RerunReply>;

/** Deletes a final ticket of the caller's project with its tasks, runs, logs and events. */
export const DeleteTicketRequest = z.object({ ticketId: z.uuid(), projectId: z.uuid() });
export type DeleteTicketRequest = z.infer<typeof DeleteTicketRequest>;

export const DeleteTicketReply = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    /** The runs whose artifacts are to be removed from the artifact store. */
    runIds: z.array(z.uuid()),
    tasks: z.number().int(),
    events: z.number().int(),
  }),
  z.object({ ok: z.literal(false), status: z.number().int(), error: ErrorBody }),
]);
export type DeleteTicketReply = z.infer<typeof DeleteTicketReply>;

export const CancelReply = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    /** Tasks that became CANCELLED (running ones are being stopped on their runners). */
    cancelled: z.array(TaskLeft),
    /** Dependents that became BLOCKED. */
    blocked: z.array(TaskBlocked),
  }),
  z.object({ ok: z.literal(false), status: z.number().int(), error: ErrorBody }),
]);
export type CancelReply = z.infer<typeof CancelReply>;
