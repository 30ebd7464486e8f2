import {
  Subjects,
  workSubject,
  type ErrorClass,
  type RunDispatched,
  type RunStatus,
  type StopReason,
  type TaskStatus,
  type TicketStatus,
} from '@drover/contracts';
import type { OutboxMessage } from '@drover/events';

export function ticketChanged(
  ticketId: string,
  status: TicketStatus,
  previous: TicketStatus | null,
): OutboxMessage {
  return { subject: Subjects.ticketChanged, ticketId, data: { ticketId, status, previous } };
}

export function taskChanged(
  task: { id: string; ticketId: string; key: string },
  status: TaskStatus,
  previous: TaskStatus | null,
  extra: { attempt?: number; retryAt?: Date; retryAfterMs?: number; reason?: string } = {},
): OutboxMessage {
  return {
    subject: Subjects.taskChanged,
    ticketId: task.ticketId,
    data: {
      taskId: task.id,
      ticketId: task.ticketId,
      key: task.key,
      status,
      previous,
      ...(extra.attempt === undefined ? {} : { attempt: extra.attempt }),
      ...(extra.retryAt === undefined ? {} : { retryAt: extra.retryAt.toISOString() }),
      ...(extra.retryAfterMs === undefined ? {} : { retryAfterMs: extra.retryAfterMs }),
      ...(extra.reason === undefined ? {} : { reason: extra.reason }),
    },
  };
}

export interface RunFacts {
  id: string;
  taskId: string;
  ticketId: string;
  attempt: number;
  runnerId: string | null;
  exitCode: number | null;
  errorClass: ErrorClass | null;
  errorMessage?: string | null;
}

/** A run row as the report statements return it (snake_case columns). */
export interface RunRow {
  id: string;
  task_id: string;
  ticket_id: string;
  attempt: number;
  runner_id: string | null;
}

export function runFactsOf(
  row: RunRow,
  exitCode: number | null = null,
  errorClass: ErrorClass | null = null,
  errorMessage: string | null = null,
): RunFacts {
  return {
    id: row.id,
    taskId: row.task_id,
    ticketId: row.ticket_id,
    attempt: row.attempt,
    runnerId: row.runner_id,
    exitCode,
    errorClass,
    errorMessage,
  };
}

export function runChanged(run: RunFacts, status: RunStatus): OutboxMessage {
  return {
    subject: Subjects.runChanged,
    ticketId: run.ticketId,
    data: {
      runId: run.id,
      taskId: run.taskId,
      ticketId: run.ticketId,
      attempt: run.attempt,
      status,
      runnerId: run.runnerId,
      exitCode: run.exitCode,
      errorClass: run.errorClass,
      errorMessage: run.errorMessage ?? null,
    },
  };
}

/** Tells the run's runner to stop it; internal (runners only, not the public stream). */
export function runStopRequested(run: RunFacts, reason: StopReason): OutboxMessage {
  return {
    subject: Subjects.runStopRequested,
    ticketId: run.ticketId,
    internal: true,
    data: {
      runId: run.id,
      taskId: run.taskId,
      ticketId: run.ticketId,
      runnerId: run.runnerId,
      reason,
    },
  };
}

/** Whose runners may take a project's work: its own pool's, or the shared pool's. */
export interface WorkPool {
  projectId: string;
  /** The project's `own_runners`: true sends its work only to runners registered with it. */
  ownRunners: boolean;
}

/**
 * Work for a runner pool (internal): a leased attempt of a task. The one place
 * that decides the pool: a project with its own runners gets its work on its
 * pool's subject, never on the shared one.
 */
export function runDispatched(
  work: RunDispatched,
  pool: WorkPool,
  traceparent?: string | null,
): OutboxMessage {
  return {
    subject: workSubject(pool.ownRunners ? pool.projectId : null),
    ticketId: work.ticketId,
    internal: true,
    data: work,
    ...(traceparent === undefined ? {} : { traceparent }),
  };
}
