import {
  Subjects,
  type ErrorClass,
  type RunStatus,
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
): OutboxMessage {
  return {
    subject: Subjects.taskChanged,
    ticketId: task.ticketId,
    data: { taskId: task.id, ticketId: task.ticketId, key: task.key, status, previous },
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
): RunFacts {
  return {
    id: row.id,
    taskId: row.task_id,
    ticketId: row.ticket_id,
    attempt: row.attempt,
    runnerId: row.runner_id,
    exitCode,
    errorClass,
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
    },
  };
}
