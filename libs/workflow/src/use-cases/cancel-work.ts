import { Logger } from '@nestjs/common';
import {
  Subjects,
  type CancelReply,
  type CancelRequest,
  type TaskStatus,
  type TicketStatus,
} from '@drover/contracts';
import type { Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { lockDispatch } from '../dispatch-lock';
import { taskChanged } from '../outbox-messages';
import { endRun } from '../run-ending';
import { afterTaskEnded, closeTasks } from '../task-ending';
import { ReportUseCase, type Effects } from './report-use-case';

/** Whether the target is the requesting project's: another project's reads as absent. */
async function owns(tx: Tx, request: CancelRequest): Promise<boolean> {
  const rows =
    request.target === 'ticket'
      ? await tx.$queryRaw<unknown[]>`
          SELECT 1 FROM ticket WHERE id = ${request.id}::uuid AND project_id = ${request.projectId}::uuid`
      : await tx.$queryRaw<unknown[]>`
          SELECT 1 FROM task WHERE id = ${request.id}::uuid AND project_id = ${request.projectId}::uuid`;
  return rows.length > 0;
}

interface OpenTask {
  id: string;
  ticket_id: string;
  key: string;
  status: TaskStatus;
  attempt: number;
  run_id: string | null;
}

const ACTIVE: readonly TaskStatus[] = ['DISPATCHED', 'RUNNING'];

/**
 * Cancels a ticket (every task not yet final) or one task (its waiting
 * dependents become BLOCKED). Waiting tasks never start; a running one ends
 * CANCELLED at once, is never retried, and its runner is told to stop it.
 * Cancelling what is already final is refused and changes nothing.
 */
export class CancelWork extends ReportUseCase<CancelRequest, CancelReply> {
  private readonly logger = new Logger(CancelWork.name);

  async apply(
    tx: Tx,
    request: CancelRequest,
    effects: Effects,
    correlationId?: string,
  ): Promise<CancelReply> {
    if (!(await owns(tx, request))) return notFound(request.target, request.id);
    // A dispatch pass in flight marks tasks DISPATCHED before it inserts their
    // runs: once it has committed, every DISPATCHED task has its run to end.
    await lockDispatch(tx);
    const events: OutboxMessage[] = [];
    const reply =
      request.target === 'ticket'
        ? await this.cancelTicket(tx, request.id, events, effects)
        : await this.cancelTask(tx, request.id, events, effects);
    await appendToOutbox(tx, events, correlationId);
    if (reply.ok) {
      this.logger.log(
        `${request.target} ${request.id} cancelled: ${reply.cancelled.length} tasks, ${reply.blocked.length} blocked`,
      );
    }
    return reply;
  }

  private async cancelTicket(
    tx: Tx,
    ticketId: string,
    events: OutboxMessage[],
    effects: Effects,
  ): Promise<CancelReply> {
    const [ticket] = await tx.$queryRaw<{ status: TicketStatus }[]>`
      SELECT status FROM ticket WHERE id = ${ticketId}::uuid`;
    if (!ticket) return notFound('ticket', ticketId);
    const open = await openTasks(tx, ticketId, null);
    if (!open.length) {
      return conflict(`ticket ${ticketId} is already ${ticket.status}; nothing was changed`);
    }
    const waiting = open.filter((t) => !ACTIVE.includes(t.status));
    if (waiting.length) {
      await tx.$executeRaw`
        UPDATE task SET status = 'CANCELLED', retry_at = NULL, finished_at = now(), updated_at = now()
        WHERE id = ANY(${waiting.map((t) => t.id)}::uuid[])`;
      for (const t of waiting) events.push(taskChanged(ref(t), 'CANCELLED', t.status));
    }
    await closeTasks(tx, ticketId, waiting.length, events);
    for (const t of open.filter((t) => ACTIVE.includes(t.status))) {
      await this.stopRun(tx, t, events, effects);
    }
    return {
      ok: true,
      cancelled: open.map((t) => ({ id: t.id, key: t.key, previous: t.status })),
      blocked: [],
    };
  }

  private async cancelTask(
    tx: Tx,
    taskId: string,
    events: OutboxMessage[],
    effects: Effects,
  ): Promise<CancelReply> {
    const [task] = await openTasks(tx, null, taskId);
    if (!task) {
      const [final] = await tx.$queryRaw<{ status: TaskStatus }[]>`
        SELECT status FROM task WHERE id = ${taskId}::uuid`;
      return final
        ? conflict(`task ${taskId} is already ${final.status}; nothing was changed`)
        : notFound('task', taskId);
    }
    if (ACTIVE.includes(task.status)) {
      await this.stopRun(tx, task, events, effects);
    } else {
      await tx.$executeRaw`
        UPDATE task SET status = 'CANCELLED', retry_at = NULL, finished_at = now(), updated_at = now()
        WHERE id = ${task.id}::uuid`;
      events.push(taskChanged(ref(task), 'CANCELLED', task.status));
      await afterTaskEnded(tx, ref(task), 'CANCELLED', events);
    }
    return {
      ok: true,
      cancelled: [{ id: task.id, key: task.key, previous: task.status }],
      // The dependents this cancel blocked: the events it wrote already name them.
      blocked: events
        .filter((e) => e.subject === Subjects.taskChanged)
        .map((e) => e.data as { taskId: string; key: string; status: TaskStatus })
        .filter((d) => d.status === 'BLOCKED')
        .map((d) => ({ id: d.taskId, key: d.key })),
    };
  }

  /** Ends the task's current run CANCELLED (never retried) and asks its runner to stop. */
  private async stopRun(
    tx: Tx,
    task: OpenTask,
    events: OutboxMessage[],
    effects: Effects,
  ): Promise<void> {
    if (!task.run_id) throw new Error(`task ${task.id} is ${task.status} without a run`);
    const ended = await endRun(
      tx,
      {
        runId: task.run_id,
        leaseToken: null,
        attempt: task.attempt,
        outcome: 'FAILED',
        exitCode: null,
        errorClass: 'CANCELLED',
        errorMessage: 'cancelled by request',
        result: null,
        finishedAt: new Date(),
        stop: 'CANCELLED',
      },
      events,
      effects,
    );
    if (!ended) throw new Error(`run ${task.run_id} of task ${task.id} changed while cancelling`);
  }
}

/**
 * Tasks not yet final (of a ticket, or one task), locked in id order, with their
 * current run. Active runs are locked first, in the order every other path that
 * ends a run takes its locks (run, then task), so a cancel and a runner's report
 * arriving together queue up instead of deadlocking.
 */
async function openTasks(
  tx: Tx,
  ticketId: string | null,
  taskId: string | null,
): Promise<OpenTask[]> {
  await tx.$queryRaw`
    SELECT r.id FROM run r JOIN task t ON t.id = r.task_id AND r.attempt = t.attempt
    WHERE (${ticketId}::uuid IS NULL OR t.ticket_id = ${ticketId}::uuid)
      AND (${taskId}::uuid IS NULL OR t.id = ${taskId}::uuid)
      AND r.status IN ('DISPATCHED', 'RUNNING')
    ORDER BY r.id FOR UPDATE OF r`;
  return tx.$queryRaw<OpenTask[]>`
    SELECT t.id, t.ticket_id, t.key, t.status, t.attempt, r.id AS run_id
    FROM task t LEFT JOIN run r ON r.task_id = t.id AND r.attempt = t.attempt
    WHERE (${ticketId}::uuid IS NULL OR t.ticket_id = ${ticketId}::uuid)
      AND (${taskId}::uuid IS NULL OR t.id = ${taskId}::uuid)
      AND t.status NOT IN ('SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'BLOCKED', 'SKIPPED')
    ORDER BY t.id FOR UPDATE OF t`;
}

const ref = (t: OpenTask) => ({ id: t.id, ticketId: t.ticket_id, key: t.key });

function notFound(what: string, id: string): CancelReply {
  return { ok: false, status: 404, error: { code: 'NOT_FOUND', message: `no ${what} ${id}` } };
}

function conflict(message: string): CancelReply {
  return { ok: false, status: 409, error: { code: 'ALREADY_FINAL', message } };
}
