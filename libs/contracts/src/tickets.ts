import { z } from 'zod';

export const LIMITS = {
  tasksPerTicket: 10_000,
  dependenciesPerTask: 1_000,
  stepsPerTask: 100,
  stepLength: 65_536,
  stepTimeoutSeconds: 7 * 24 * 3600,
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

export const TaskInput = z
  .object({
    key: TaskKey,
    title: z.string().min(1).max(500).optional(),
    agent: z.literal('command').default('command'),
    priority: Priority.optional(),
    depends_on: z.array(TaskKey).max(LIMITS.dependenciesPerTask).default([]),
    steps: z.array(CommandStep).min(1).max(LIMITS.stepsPerTask),
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
