import { z } from 'zod';
import { ErrorClass } from './domain';

export const LIMITS = {
  tasksPerTicket: 10_000,
  dependenciesPerTask: 1_000,
  stepsPerTask: 100,
  stepLength: 65_536,
  stepTimeoutSeconds: 7 * 24 * 3600,
  maxAttempts: 100,
  backoffSeconds: 24 * 3600,
} as const;

export const TaskKey = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9_-]{0,62}$/,
    'must be 1-63 characters of a-z, 0-9, "_" or "-", starting with a letter or digit',
  );

const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a valid environment variable name');

/** A relative path inside the workspace: no absolute paths, no `..`. */
const WorkspacePath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.startsWith('/') && !p.includes('\0'), 'must be a relative path')
  .refine((p) => !p.split(/[\\/]/).includes('..'), 'must not contain ".."');

export const CommandStep = z
  .object({
    name: z.string().min(1).max(200).optional(),
    run: z.string().min(1).max(LIMITS.stepLength),
    env: z.record(EnvName, z.string().max(65_536)).optional(),
    cwd: WorkspacePath.optional(),
    timeout_seconds: z.number().int().positive().max(LIMITS.stepTimeoutSeconds).optional(),
  })
  .strict();
export type CommandStep = z.infer<typeof CommandStep>;

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

export const TaskInput = z
  .object({
    key: TaskKey,
    title: z.string().min(1).max(500).optional(),
    agent: z.literal('command').default('command'),
    priority: Priority.optional(),
    depends_on: z.array(TaskKey).max(LIMITS.dependenciesPerTask).default([]),
    steps: z.array(CommandStep).min(1).max(LIMITS.stepsPerTask),
    /** Wall-clock limit of one run of the task; the orchestrator's default when left out. */
    timeout_seconds: z.number().int().positive().max(LIMITS.stepTimeoutSeconds).optional(),
    retry: RetryInput.optional(),
  })
  .strict();
export type TaskInput = z.infer<typeof TaskInput>;

export const ProjectSlug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 characters of a-z, 0-9 or "-"');

/** The body of `POST /tickets`. */
export const SubmitTicket = z
  .object({
    title: z.string().min(1).max(500),
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

/** What a runner needs to execute a task; stored as the task's `spec`. */
export const TaskSpec = z.object({ steps: z.array(CommandStep) });
export type TaskSpec = z.infer<typeof TaskSpec>;

export const ErrorBody = z.object({
  code: z.string(),
  message: z.string(),
  details: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ErrorBody = z.infer<typeof ErrorBody>;

export const CreateTicketReply = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), ticketId: z.uuid(), taskCount: z.number().int() }),
  z.object({ ok: z.literal(false), status: z.number().int(), error: ErrorBody }),
]);
export type CreateTicketReply = z.infer<typeof CreateTicketReply>;

/** Cancels a ticket's open tasks, or one task (and blocks its dependents). */
export const CancelRequest = z.discriminatedUnion('target', [
  z.object({ target: z.literal('ticket'), id: z.uuid() }),
  z.object({ target: z.literal('task'), id: z.uuid() }),
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
