import { Logger } from '@nestjs/common';
import {
  RERUNNABLE_TASK_STATUSES,
  type OnFailure,
  type RerunReply,
  type RerunRequest,
  type TaskSpec,
  type TaskStatus,
  type TicketStatus,
} from '@drover/contracts';
import type { Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { lockDispatch } from '../dispatch-lock';
import { taskChanged, ticketChanged } from '../outbox-messages';
import { activate } from '../pipeline/activation';
import type { SpecTemplates } from '../pipeline/spec-templates';
import { closeTasks, endedWell, settleDependents } from '../task-ending';
import { isTerminal, ticketStatusFor } from '../task-state';
import { ReportUseCase, type Effects } from './report-use-case';

interface TaskRow {
  id: string;
  ticket_id: string;
  key: string;
  status: TaskStatus;
  on_failure: OnFailure;
  when_expr: string | null;
  templated: boolean;
  requires_approval: boolean;
  approval_timeout_ms: number | null;
  spec: TaskSpec;
  spec_templates: SpecTemplates | null;
}

/** A ticket's tasks (locked) and what each depends on. */
interface Graph {
  tasks: Map<string, TaskRow>;
  dependsOn: Map<string, string[]>;
  dependents: Map<string, string[]>;
}

const rerunnable = (t: TaskRow) => RERUNNABLE_TASK_STATUSES.includes(t.status);
const ref = (t: TaskRow) => ({ id: t.id, ticketId: t.ticket_id, key: t.key });

/**
 * Runs work that ended without succeeding again: one final task (FAILED,
 * TIMED_OUT, CANCELLED or BLOCKED) with its dependents that did not succeed,
 * or every such task of a final ticket. They go back to PENDING, those whose
 * dependencies all ended well on to READY (or through their gate), and each
 * next run is a new attempt: earlier runs stay as history, and the task's
 * retry policy grants its attempts afresh (max_attempts becomes attempt +
 * attempt_budget). The ticket reopens and settles again when they end.
 * Rerunning what is open, or what has nothing to rerun, is refused.
 */
export class RerunWork extends ReportUseCase<RerunRequest, RerunReply> {
  private readonly logger = new Logger(RerunWork.name);

  async apply(
    tx: Tx,
    request: RerunRequest,
    effects: Effects,
    correlationId?: string,
  ): Promise<RerunReply> {
    const ticketId = await ticketOf(tx, request);
    if (!ticketId) return notFound(request.target, request.id);
    // Serialised with cancels and dispatch passes: a rerun racing a cancel or
    // another rerun sees what the first committed, so never opens a task twice.
    await lockDispatch(tx);
    const graph = await lockGraph(tx, ticketId);
    const chosen =
      request.target === 'ticket'
        ? chooseForTicket(graph, ticketId)
        : chooseForTask(graph, request.id);
    if (!Array.isArray(chosen)) return chosen;
    const events: OutboxMessage[] = [];
    const rerun = closeOver(graph, chosen);
    await reopenTasks(tx, rerun, events);
    await reopenTicket(tx, ticketId, rerun.length, events);
    const closed = await releaseRoots(tx, graph, rerun, events, effects);
    if (closed) await closeTasks(tx, ticketId, closed, events);
    await appendToOutbox(tx, events, correlationId);
    this.logger.log(`${request.target} ${request.id} rerun: ${rerun.length} tasks`);
    return { ok: true, rerun: rerun.map((t) => ({ id: t.id, key: t.key, previous: t.status })) };
  }
}

/** The ticket the target belongs to, if it is the requesting project's. */
async function ticketOf(tx: Tx, request: RerunRequest): Promise<string | null> {
  const rows =
    request.target === 'ticket'
      ? await tx.$queryRaw<{ ticket_id: string }[]>`
          SELECT id AS ticket_id FROM ticket
          WHERE id = ${request.id}::uuid AND project_id = ${request.projectId}::uuid`
      : await tx.$queryRaw<{ ticket_id: string }[]>`
          SELECT ticket_id FROM task
          WHERE id = ${request.id}::uuid AND project_id = ${request.projectId}::uuid`;
  return rows[0]?.ticket_id ?? null;
}

/** Every task of the ticket, locked in id order (as a cancel locks them), and its edges. */
async function lockGraph(tx: Tx, ticketId: string): Promise<Graph> {
  const rows = await tx.$queryRaw<TaskRow[]>`
    SELECT id, ticket_id, key, status, on_failure::text AS on_failure, when_expr, templated,
           requires_approval, approval_timeout_ms, spec, spec_templates
    FROM task WHERE ticket_id = ${ticketId}::uuid ORDER BY id FOR UPDATE`;
  const edges = await tx.$queryRaw<{ task_id: string; depends_on_id: string }[]>`
    SELECT task_id, depends_on_id FROM task_dependency WHERE ticket_id = ${ticketId}::uuid`;
  const graph: Graph = {
    tasks: new Map(rows.map((r) => [r.id, r])),
    dependsOn: new Map(),
    dependents: new Map(),
  };
  for (const e of edges) {
    graph.dependsOn.set(e.task_id, [...(graph.dependsOn.get(e.task_id) ?? []), e.depends_on_id]);
    graph.dependents.set(e.depends_on_id, [
      ...(graph.dependents.get(e.depends_on_id) ?? []),
      e.task_id,
    ]);
  }
  return graph;
}

/** A final ticket's tasks that did not succeed. */
function chooseForTicket(graph: Graph, ticketId: string): TaskRow[] | RerunReply {
  const tasks = [...graph.tasks.values()];
  const open = tasks.filter((t) => !isTerminal(t.status));
  if (open.length) {
    return conflict(
      'NOT_FINAL',
      `ticket ${ticketId} is still running (${open.map((t) => `${t.key} is ${t.status}`).join(', ')}); nothing was changed`,
    );
  }
  const chosen = tasks.filter(rerunnable);
  if (!chosen.length) {
    return conflict(
      'NOTHING_TO_RERUN',
      `every task of ticket ${ticketId} succeeded or was skipped; nothing was changed`,
    );
  }
  return chosen;
}

/** A final task that did not succeed, whose own dependencies let it run. */
function chooseForTask(graph: Graph, taskId: string): TaskRow[] | RerunReply {
  const task = graph.tasks.get(taskId);
  if (!task) return notFound('task', taskId);
  if (!isTerminal(task.status)) {
    return conflict(
      'NOT_FINAL',
      `task ${taskId} is ${task.status}: only a final task can be rerun; nothing was changed`,
    );
  }
  if (!rerunnable(task)) {
    return conflict('NOTHING_TO_RERUN', `task ${taskId} is ${task.status}; nothing was changed`);
  }
  const blocker = (graph.dependsOn.get(taskId) ?? [])
    .map((id) => graph.tasks.get(id))
    .find((d) => d && isTerminal(d.status) && !endedWell(d.status, d.on_failure));
  if (blocker) {
    return conflict(
      'BLOCKED_BY_DEPENDENCY',
      `task ${taskId} waits for ${blocker.key} (${blocker.id}), which is ${blocker.status}: rerun that one; nothing was changed`,
    );
  }
  return [task];
}

/**
 * The chosen tasks with their dependents (transitively) that did not succeed,
 * each taken only when nothing outside the rerun would block it again.
 */
function closeOver(graph: Graph, chosen: TaskRow[]): TaskRow[] {
  const rerun = new Map(chosen.map((t) => [t.id, t]));
  const canWait = (id: string) => {
    const d = graph.tasks.get(id);
    return !!d && (rerun.has(id) || !isTerminal(d.status) || endedWell(d.status, d.on_failure));
  };
  for (let grew = true; grew;) {
    grew = false;
    for (const id of [...rerun.keys()]) {
      for (const dependentId of graph.dependents.get(id) ?? []) {
        const dependent = graph.tasks.get(dependentId);
        if (!dependent || rerun.has(dependentId) || !rerunnable(dependent)) continue;
        if (!(graph.dependsOn.get(dependentId) ?? []).every(canWait)) continue;
        rerun.set(dependentId, dependent);
        grew = true;
      }
    }
  }
  return [...rerun.values()];
}

/** Back to PENDING, with the attempts their retry policy grants counted afresh. */
async function reopenTasks(tx: Tx, tasks: TaskRow[], events: OutboxMessage[]): Promise<void> {
  await tx.$executeRaw`
    UPDATE task SET status = 'PENDING', reason = NULL, retry_at = NULL, ready_at = NULL,
                    finished_at = NULL, max_attempts = attempt + COALESCE(attempt_budget, max_attempts),
                    updated_at = now()
    WHERE id = ANY(${tasks.map((t) => t.id)}::uuid[])`;
  for (const t of tasks) events.push(taskChanged(ref(t), 'PENDING', t.status, { reason: 'rerun' }));
}

/** The ticket counts the tasks as open again, and is open again itself. */
async function reopenTicket(
  tx: Tx,
  ticketId: string,
  opened: number,
  events: OutboxMessage[],
): Promise<void> {
  const [before] = await tx.$queryRaw<{ status: TicketStatus }[]>`
    SELECT status FROM ticket WHERE id = ${ticketId}::uuid`;
  const statuses = await tx.$queryRaw<{ status: TaskStatus }[]>`
    SELECT DISTINCT status FROM task WHERE ticket_id = ${ticketId}::uuid`;
  // Some of them ran before: the ticket is RUNNING, not PENDING, again.
  const status = ticketStatusFor([...statuses.map((s) => s.status), 'RUNNING']);
  await tx.$executeRaw`
    UPDATE ticket SET open_tasks = open_tasks + ${opened}, status = ${status}::"TicketStatus",
                      finished_at = NULL, updated_at = now()
    WHERE id = ${ticketId}::uuid`;
  if (before && before.status !== status)
    events.push(ticketChanged(ticketId, status, before.status));
}

/**
 * The rerun tasks whose dependencies all ended well start: plain ones become
 * READY, gated ones go through their gate. Returns how many that closed (a gate
 * that skipped or failed, and what that blocked or skipped in turn).
 */
async function releaseRoots(
  tx: Tx,
  graph: Graph,
  rerun: TaskRow[],
  events: OutboxMessage[],
  effects: Effects,
): Promise<number> {
  const rerunIds = new Set(rerun.map((t) => t.id));
  const roots = rerun.filter((t) =>
    (graph.dependsOn.get(t.id) ?? []).every((id) => {
      const d = graph.tasks.get(id);
      return !!d && !rerunIds.has(id) && isTerminal(d.status) && endedWell(d.status, d.on_failure);
    }),
  );
  let closed = 0;
  for (const root of roots) {
    if (!root.when_expr && !root.templated && !root.requires_approval) {
      await tx.$executeRaw`
        UPDATE task SET status = 'READY', ready_at = now(), updated_at = now()
        WHERE id = ${root.id}::uuid`;
      events.push(taskChanged(ref(root), 'READY', 'PENDING'));
      continue;
    }
    const activation = await activate(tx, root, events, effects);
    if (activation.status === 'SKIPPED' || activation.status === 'FAILED') {
      closed += 1 + (await settleDependents(tx, ref(root), activation.status, events, effects));
    }
  }
  return closed;
}

function notFound(what: string, id: string): RerunReply {
  return { ok: false, status: 404, error: { code: 'NOT_FOUND', message: `no ${what} ${id}` } };
}

function conflict(code: string, message: string): RerunReply {
  return { ok: false, status: 409, error: { code, message } };
}
