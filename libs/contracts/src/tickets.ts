import { z } from 'zod';
import { ErrorClass } from './domain';
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

export const TaskInput = z
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
  })
  .strict()
  .superRefine((task, ctx) => {
    for (const problem of specProblems(task.agent, task)) {
      ctx.addIssue({ code: 'custom', path: [problem.path], message: problem.message });
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

/** The body of `POST /tickets`. */
export const SubmitTicket = z
  .object({
    title: Text(1, 500),
    project: ProjectSlug.default('default'),
    priority: Priority.default(0),
    tasks: z.array(TaskInput).min(1).max(LIMITS.tasksPerTicket),
  })
  .strict();
export type SubmitTicket = z.infer<typeof SubmitTicket>;
export type SubmitTicketInput = z.input<typeof SubmitTicket>;

/** A task's resolved retry and timeout policy, as stored with it. */
export interface TaskPolicy {
  maxAttempts: number;
  timeoutMs: number;
  backoffBaseMs: number;
  backoffFactor: number;
  backoffCapMs: number;
  retryOn: ErrorClass[];
}

export const ErrorBody = z.object({
  code: z.string(),
  message: z.string(),
  details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  /** For a 429 or 503: when asking again may succeed (the gateway's `Retry-After`). */
  retryAfterSeconds: z.number().int().min(0).optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

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

export const CancelReply = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    /** Tasks that became CANCELLED (running ones are being stopped on their runners). */
    cancelled: z.array(z.object({ id: z.uuid(), key: z.string(), previous: z.string() })),
    /** Dependents that became BLOCKED. */
    blocked: z.array(z.object({ id: z.uuid(), key: z.string() })),
  }),
  z.object({ ok: z.literal(false), status: z.number().int(), error: ErrorBody }),
]);
export type CancelReply = z.infer<typeof CancelReply>;
