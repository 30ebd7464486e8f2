import type { OnFailure, TaskStatus, TicketStatus } from '@drover/contracts';
import { Prisma, type Tx } from '@drover/db';
import type { OutboxMessage } from '@drover/events';
import { taskChanged, ticketChanged } from './outbox-messages';
import { activate, type GatedTask } from './pipeline/activation';
import { ticketStatusFor } from './task-state';
import type { Effects } from './use-cases/report-use-case';

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

/** Whether a dependency in `status` lets its dependents run. */
export function endedWell(status: TaskStatus, onFailure: OnFailure): boolean {
  if (status === 'SUCCEEDED' || status === 'SKIPPED') return true;
  return onFailure === 'continue' && (status === 'FAILED' || status === 'TIMED_OUT');
}

// The same rule in SQL, over a dependency row `u`.
const ENDED_WELL = Prisma.sql`(u.status IN ('SUCCEEDED', 'SKIPPED')
  OR (u.on_failure = 'continue' AND u.status IN ('FAILED', 'TIMED_OUT')))`;

/**
 * What follows a task reaching a final status `status` (already written): its
 * dependents are released when it ended well (succeeded, was skipped, or failed
 * with `on_failure: continue`), else blocked, transitively; and the ticket
 * settles when none of its tasks is left open. `alsoClosed` counts other tasks
 * of the ticket the caller closed in the same transaction.
 */
export async function afterTaskEnded(
  tx: Tx,
  task: TaskRef,
  status: TaskStatus,
  events: OutboxMessage[],
  alsoClosed = 0,
  effects?: Effects,
): Promise<void> {
  const closed = 1 + alsoClosed + (await settleDependents(tx, task, status, events, effects));
  await closeTasks(tx, task.ticketId, closed, events);
}

/**
 * Releases or blocks what waits for `task`; returns how many tasks that closed
 * (blocked, or released into an end of their own: skipped, or failed before
 * running). Iterative, so a long chain of skipped steps needs no deep stack.
 */
export async function settleDependents(
  tx: Tx,
  task: TaskRef,
  status: TaskStatus,
  events: OutboxMessage[],
  effects?: Effects,
): Promise<number> {
  let closed = 0;
  const ended: { task: TaskRef; status: TaskStatus }[] = [{ task, status }];
  for (let next = ended.pop(); next; next = ended.pop()) {
    const onFailure = await onFailureOf(tx, next.task.id, next.status);
    if (!endedWell(next.status, onFailure)) {
      const blocked = await blockDependents(tx, [next.task.id]);
      closed += blocked.length;
      for (const t of blocked) events.push(taskChanged(refOf(t), 'BLOCKED', 'PENDING'));
      continue;
    }
    const waiting = await lockWaitingDependents(tx, next.task.id);
    if (!waiting.length) continue;
    if (waiting.some((w) => !w.gated)) {
      for (const t of await releaseDependents(tx, next.task.id)) {
        events.push(taskChanged(refOf(t), 'READY', 'PENDING'));
      }
    }
    const gatedOnes = waiting.some((w) => w.gated) ? await gatedDependents(tx, next.task.id) : [];
    for (const gated of gatedOnes) {
      const activation = await activate(tx, gated, events, effects);
      if (activation.status === 'SKIPPED' || activation.status === 'FAILED') {
        closed += 1;
        ended.push({ task: refOf(gated), status: activation.status });
      }
    }
  }
  return closed;
}

/** A failed task's `on_failure` (the only statuses where it matters are read). */
async function onFailureOf(tx: Tx, taskId: string, status: TaskStatus): Promise<OnFailure> {
  if (status !== 'FAILED' && status !== 'TIMED_OUT') return 'stop';
  const [row] = await tx.$queryRaw<{ on_failure: OnFailure }[]>`
    SELECT on_failure FROM task WHERE id = ${taskId}::uuid`;
  return row?.on_failure ?? 'stop';
}

/**
 * Locks the PENDING dependents of `taskId` (in id order), and says which are
 * gated (a condition, templates, an approval gate). The others whose
 * dependencies have all ended well become READY (`releaseDependents`); gated
 * ones go through `activate`.
 *
 * Concurrency: tasks of one ticket finish in parallel. Dependents are locked
 * before they are examined, so two dependencies of a join finishing at once
 * are serialised on the join alone and the second sees the first's result.
 */
function lockWaitingDependents(tx: Tx, taskId: string) {
  return tx.$queryRaw<{ id: string; gated: boolean }[]>`
    SELECT id, (when_expr IS NOT NULL OR templated OR requires_approval) AS gated FROM task
    WHERE id IN (SELECT task_id FROM task_dependency WHERE depends_on_id = ${taskId}::uuid)
      AND status = 'PENDING'
    ORDER BY id FOR UPDATE`;
}

/** Of the dependents `lockWaitingDependents` locked, the plain ones ready to run become READY. */
function releaseDependents(tx: Tx, taskId: string): Promise<TaskRow[]> {
  // A new statement, so it sees what a concurrent sibling committed before our lock.
  return tx.$queryRaw<TaskRow[]>`
    UPDATE task t SET status = 'READY', ready_at = now(), updated_at = now()
    WHERE t.status = 'PENDING'
      AND t.id IN (SELECT task_id FROM task_dependency WHERE depends_on_id = ${taskId}::uuid)
      AND t.when_expr IS NULL AND NOT t.templated AND NOT t.requires_approval
      AND NOT EXISTS (
        SELECT 1 FROM task_dependency d JOIN task u ON u.id = d.depends_on_id
        WHERE d.task_id = t.id AND NOT ${ENDED_WELL})
    RETURNING t.id, t.ticket_id, t.key`;
}

/** PENDING dependents of `taskId`, all of whose dependencies ended well, that need `activate`. */
function gatedDependents(tx: Tx, taskId: string): Promise<GatedTask[]> {
  return tx.$queryRaw<GatedTask[]>`
    SELECT t.id, t.ticket_id, t.key, t.when_expr, t.templated, t.requires_approval,
           t.approval_timeout_ms, t.on_failure::text AS on_failure, t.spec, t.spec_templates
    FROM task t
    WHERE t.status = 'PENDING'
      AND t.id IN (SELECT task_id FROM task_dependency WHERE depends_on_id = ${taskId}::uuid)
      AND (t.when_expr IS NOT NULL OR t.templated OR t.requires_approval)
      AND NOT EXISTS (
        SELECT 1 FROM task_dependency d JOIN task u ON u.id = d.depends_on_id
        WHERE d.task_id = t.id AND NOT ${ENDED_WELL})
    ORDER BY t.id`;
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
  // A failure its step allowed (`on_failure: continue`) does not fail the ticket.
  const groups = await tx.$queryRaw<{ status: TaskStatus }[]>`
    SELECT DISTINCT CASE WHEN on_failure = 'continue' AND status IN ('FAILED', 'TIMED_OUT')
                         THEN 'SUCCEEDED' ELSE status::text END AS status
    FROM task WHERE ticket_id = ${ticketId}::uuid`;
  const status = ticketStatusFor(groups.map((g) => g.status));
  if (status === ticket.status) return;
  const terminal = status === 'SUCCEEDED' || status === 'FAILED' || status === 'CANCELLED';
  await tx.ticket.update({
    where: { id: ticketId },
    data: { status, finishedAt: terminal ? new Date() : null },
  });
  events.push(ticketChanged(ticketId, status, ticket.status));
}
