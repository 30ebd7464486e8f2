import { Logger } from '@nestjs/common';
import type { RunFinished, TaskStatus, TicketStatus } from '@drover/contracts';
import type { Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { ReportUseCase } from './report-use-case';
import {
  runChanged,
  runFactsOf,
  taskChanged,
  ticketChanged,
  type RunRow,
} from '../outbox-messages';
import { ticketStatusFor } from '../task-state';

interface FinishedRow extends RunRow {
  /** Set when the task moved too. */
  key: string | null;
  previous: TaskStatus | null;
}

interface TaskRow {
  id: string;
  ticket_id: string;
  key: string;
}

/**
 * A runner finished a run. In one transaction: end the run (compare-and-set on
 * lease token and status), end the task, then release dependents whose
 * dependencies all succeeded, or block every transitive dependent of a failure,
 * and settle the ticket when none of its tasks is left open.
 *
 * Concurrency: tasks of one ticket finish in parallel. Dependents are locked (in
 * id order) before they are examined, so two dependencies of a join finishing at
 * once are serialised on the join alone and the second sees the first's result.
 * The ticket row is locked last, by the decrement of its open-task counter, and
 * only until commit.
 */
export class RecordRunFinished extends ReportUseCase<RunFinished> {
  private readonly logger = new Logger(RecordRunFinished.name);

  async apply(tx: Tx, report: RunFinished, correlationId?: string): Promise<boolean> {
    const errorClass =
      report.outcome === 'SUCCEEDED' ? null : (report.errorClass ?? 'AGENT_FAILED');
    const taskStatus: TaskStatus = report.outcome;
    // Run and task in one statement, both compare-and-set; `previous` is the
    // task's status before (the statement sees the rows as they were).
    const [row] = await tx.$queryRaw<FinishedRow[]>`
        WITH r AS (
          UPDATE run SET status = ${report.outcome}::"RunStatus", runner_id = ${report.runnerId},
                         finished_at = ${new Date(report.finishedAt)}, exit_code = ${report.exitCode},
                         error_class = ${errorClass}::"ErrorClass",
                         error_message = ${report.errorMessage},
                         result = ${report.result === null ? null : JSON.stringify(report.result)}::jsonb
          WHERE id = ${report.runId}::uuid AND lease_token = ${report.leaseToken}::uuid
            AND status IN ('DISPATCHED', 'RUNNING')
          RETURNING id, task_id, ticket_id, attempt, runner_id),
        t AS (
          UPDATE task SET status = ${taskStatus}::"TaskStatus", finished_at = now(), updated_at = now()
          FROM r, task AS before
          WHERE task.id = r.task_id AND before.id = task.id AND task.attempt = r.attempt
            AND task.status IN ('DISPATCHED', 'RUNNING')
          RETURNING task.key, before.status AS previous)
        SELECT r.id, r.task_id, r.ticket_id, r.attempt, r.runner_id, t.key, t.previous
        FROM r LEFT JOIN t ON true`;
    if (!row) {
      this.logger.debug(
        `run ${report.runId}: finish report ignored (unknown run, stale lease or duplicate)`,
      );
      return false;
    }
    const events: OutboxMessage[] = [
      runChanged(runFactsOf(row, report.exitCode, errorClass), report.outcome),
    ];
    if (row.key !== null && row.previous !== null) {
      const task = { id: row.task_id, ticketId: row.ticket_id, key: row.key };
      events.push(taskChanged(task, taskStatus, row.previous));
      let closed = 1;
      if (taskStatus === 'SUCCEEDED') {
        for (const t of await releaseDependents(tx, task.id)) {
          events.push(
            taskChanged({ id: t.id, ticketId: t.ticket_id, key: t.key }, 'READY', 'PENDING'),
          );
        }
      } else {
        const blocked = await blockDependents(tx, task.id);
        closed += blocked.length;
        for (const t of blocked) {
          events.push(
            taskChanged({ id: t.id, ticketId: t.ticket_id, key: t.key }, 'BLOCKED', 'PENDING'),
          );
        }
      }
      const settled = await closeTasks(tx, task.ticketId, closed);
      if (settled) events.push(ticketChanged(task.ticketId, settled.status, settled.previous));
    }
    await appendToOutbox(tx, events, correlationId);
    return true;
  }
}

/** PENDING dependents of `taskId` whose dependencies have all succeeded become READY. */
async function releaseDependents(tx: Tx, taskId: string): Promise<TaskRow[]> {
  await tx.$queryRaw`
    SELECT id FROM task
    WHERE id IN (SELECT task_id FROM task_dependency WHERE depends_on_id = ${taskId}::uuid)
      AND status = 'PENDING'
    ORDER BY id FOR UPDATE`;
  // A new statement, so it sees what a concurrent sibling committed before our lock.
  return tx.$queryRaw<TaskRow[]>`
    UPDATE task t SET status = 'READY', ready_at = now(), updated_at = now()
    WHERE t.status = 'PENDING'
      AND t.id IN (SELECT task_id FROM task_dependency WHERE depends_on_id = ${taskId}::uuid)
      AND NOT EXISTS (
        SELECT 1 FROM task_dependency d JOIN task u ON u.id = d.depends_on_id
        WHERE d.task_id = t.id AND u.status <> 'SUCCEEDED')
    RETURNING t.id, t.ticket_id, t.key`;
}

/** Every transitive dependent of `taskId` still waiting becomes BLOCKED and never runs. */
async function blockDependents(tx: Tx, taskId: string): Promise<TaskRow[]> {
  const downstream = await tx.$queryRaw<{ id: string }[]>`
    WITH RECURSIVE downstream(id) AS (
      SELECT task_id FROM task_dependency WHERE depends_on_id = ${taskId}::uuid
      UNION
      SELECT d.task_id FROM task_dependency d JOIN downstream ON d.depends_on_id = downstream.id)
    SELECT t.id FROM task t JOIN downstream USING (id)
    WHERE t.status = 'PENDING' ORDER BY t.id FOR UPDATE OF t`;
  if (!downstream.length) return [];
  return tx.$queryRaw<TaskRow[]>`
    UPDATE task SET status = 'BLOCKED', finished_at = now(), updated_at = now()
    WHERE id = ANY(${downstream.map((d) => d.id)}::uuid[]) AND status = 'PENDING'
    RETURNING id, ticket_id, key`;
}

/**
 * Counts `closed` tasks of the ticket as final; when none is left open, settles
 * the ticket from its tasks' statuses. Returns the ticket's change, if any.
 */
async function closeTasks(
  tx: Tx,
  ticketId: string,
  closed: number,
): Promise<{ status: TicketStatus; previous: TicketStatus } | null> {
  const [ticket] = await tx.$queryRaw<{ open_tasks: number; status: TicketStatus }[]>`
    UPDATE ticket SET open_tasks = open_tasks - ${closed}, updated_at = now()
    WHERE id = ${ticketId}::uuid RETURNING open_tasks, status`;
  if (!ticket || ticket.open_tasks > 0) return null;
  const groups = await tx.task.groupBy({ by: ['status'], where: { ticketId } });
  const status = ticketStatusFor(groups.map((g) => g.status));
  if (status === ticket.status) return null;
  const terminal = status === 'SUCCEEDED' || status === 'FAILED' || status === 'CANCELLED';
  await tx.ticket.update({
    where: { id: ticketId },
    data: { status, finishedAt: terminal ? new Date() : null },
  });
  return { status, previous: ticket.status };
}
