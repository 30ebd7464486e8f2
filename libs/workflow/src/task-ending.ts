import type { TaskStatus, TicketStatus } from '@drover/contracts';
import type { Tx } from '@drover/db';
import type { OutboxMessage } from '@drover/events';
import { taskChanged, ticketChanged } from './outbox-messages';
import { ticketStatusFor } from './task-state';

export interface TaskRef {
  id: string;
  ticketId: string;
  key: string;
}

interface TaskRow {
  id: string;
  ticket_id: string;
  key: string;
}

const refOf = (t: TaskRow): TaskRef => ({ id: t.id, ticketId: t.ticket_id, key: t.key });

/**
 * What follows a task reaching a final status `status` (already written): its
 * dependents are released (SUCCEEDED) or blocked, transitively (anything else),
 * and the ticket settles when none of its tasks is left open. `alsoClosed`
 * counts other tasks of the ticket the caller closed in the same transaction.
 */
export async function afterTaskEnded(
  tx: Tx,
  task: TaskRef,
  status: TaskStatus,
  events: OutboxMessage[],
  alsoClosed = 0,
): Promise<void> {
  let closed = 1 + alsoClosed;
  if (status === 'SUCCEEDED') {
    for (const t of await releaseDependents(tx, task.id)) {
      events.push(taskChanged(refOf(t), 'READY', 'PENDING'));
    }
  } else {
    const blocked = await blockDependents(tx, [task.id]);
    closed += blocked.length;
    for (const t of blocked) events.push(taskChanged(refOf(t), 'BLOCKED', 'PENDING'));
  }
  await closeTasks(tx, task.ticketId, closed, events);
}

/**
 * PENDING dependents of `taskId` whose dependencies have all succeeded become READY.
 *
 * Concurrency: tasks of one ticket finish in parallel. Dependents are locked (in
 * id order) before they are examined, so two dependencies of a join finishing at
 * once are serialised on the join alone and the second sees the first's result.
 */
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

/** Every transitive dependent of `taskIds` still waiting becomes BLOCKED and never runs. */
async function blockDependents(tx: Tx, taskIds: readonly string[]): Promise<TaskRow[]> {
  const downstream = await tx.$queryRaw<{ id: string }[]>`
    WITH RECURSIVE downstream(id) AS (
      SELECT task_id FROM task_dependency WHERE depends_on_id = ANY(${taskIds}::uuid[])
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
 * the ticket from its tasks' statuses. The ticket row is locked last, by the
 * decrement, and only until commit.
 */
export async function closeTasks(
  tx: Tx,
  ticketId: string,
  closed: number,
  events: OutboxMessage[],
): Promise<void> {
  const [ticket] = await tx.$queryRaw<{ open_tasks: number; status: TicketStatus }[]>`
    UPDATE ticket SET open_tasks = open_tasks - ${closed}, updated_at = now()
    WHERE id = ${ticketId}::uuid RETURNING open_tasks, status`;
  if (!ticket || ticket.open_tasks > 0) return;
  const groups = await tx.task.groupBy({ by: ['status'], where: { ticketId } });
  const status = ticketStatusFor(groups.map((g) => g.status));
  if (status === ticket.status) return;
  const terminal = status === 'SUCCEEDED' || status === 'FAILED' || status === 'CANCELLED';
  await tx.ticket.update({
    where: { id: ticketId },
    data: { status, finishedAt: terminal ? new Date() : null },
  });
  events.push(ticketChanged(ticketId, status, ticket.status));
}
