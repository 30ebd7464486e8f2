import { z } from 'zod';
import { ErrorClass, RunStatus, RunnerStatus, TaskStatus, TicketStatus } from './domain';
import { ArtifactInfo, LogLine } from './run-outputs';
import { Subjects } from './subjects';
import { Waiting } from './waiting';

export const TicketChanged = z.object({
  ticketId: z.uuid(),
  status: TicketStatus,
  previous: TicketStatus.nullable(),
});
export const TaskChanged = z.object({
  taskId: z.uuid(),
  ticketId: z.uuid(),
  key: z.string(),
  status: TaskStatus,
  previous: TaskStatus.nullable(),
  /** Runs created so far (present on changes caused by a run). */
  attempt: z.number().int().nonnegative().optional(),
  /** RETRY_WAIT: when the task becomes READY again. */
  retryAt: z.iso.datetime().optional(),
  /** RETRY_WAIT after a provider refused (RATE_LIMITED): the wait it asked for, in ms. */
  retryAfterMs: z.number().int().nonnegative().optional(),
  /** Why, when no run says it: a false condition, a rejection, a template that failed. */
  reason: z.string().optional(),
});
/**
 * A task's wait for a runner: `waiting` is why no runner can take it, or null
 * when one can again (the task starting ends the wait without this event: its
 * `task.changed` to RUNNING says it).
 */
export const TaskWaitingChanged = z.object({
  taskId: z.uuid(),
  ticketId: z.uuid(),
  key: z.string(),
  status: TaskStatus,
  waiting: Waiting.nullable(),
});
export const RunChanged = z.object({
  runId: z.uuid(),
  taskId: z.uuid(),
  ticketId: z.uuid(),
  attempt: z.number().int(),
  status: RunStatus,
  runnerId: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  errorClass: ErrorClass.nullable(),
  errorMessage: z.string().nullable().optional(),
});
export const RunnerChanged = z.object({
  runnerId: z.string(),
  name: z.string(),
  status: RunnerStatus,
  previous: RunnerStatus.nullable(),
});
export const LogAppended = z.object({
  runId: z.uuid(),
  taskId: z.uuid(),
  ticketId: z.uuid(),
  firstLine: z.number().int().nonnegative(),
  lines: z.array(LogLine),
});
export const ArtifactStored = ArtifactInfo.extend({
  runId: z.uuid(),
  taskId: z.uuid(),
  ticketId: z.uuid(),
});

/** The public events a client sees on the WebSocket stream, keyed by their short type. */
export const PublicEvents = {
  'ticket.changed': { subject: Subjects.ticketChanged, schema: TicketChanged },
  'task.changed': { subject: Subjects.taskChanged, schema: TaskChanged },
  'task.waiting': { subject: Subjects.taskWaitingChanged, schema: TaskWaitingChanged },
  'run.changed': { subject: Subjects.runChanged, schema: RunChanged },
  'runner.changed': { subject: Subjects.runnerChanged, schema: RunnerChanged },
  'log.appended': { subject: Subjects.logAppended, schema: LogAppended },
  'artifact.stored': { subject: Subjects.artifactStored, schema: ArtifactStored },
} as const;

export type PublicEventType = keyof typeof PublicEvents;
export type PublicEventData<T extends PublicEventType> = z.infer<
  (typeof PublicEvents)[T]['schema']
>;

/** One event as the WebSocket stream delivers it. */
export interface StreamEvent<T extends PublicEventType = PublicEventType> {
  seq: number;
  type: T;
  occurredAt: string;
  ticketId: string | null;
  data: PublicEventData<T>;
}

/** Messages a WebSocket client may send. */
export const ClientFrame = z.discriminatedUnion('op', [
  z.object({ op: z.literal('ping') }).strict(),
]);
export type ClientFrame = z.infer<typeof ClientFrame>;
