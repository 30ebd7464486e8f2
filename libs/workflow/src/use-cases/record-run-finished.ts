import { Logger } from '@nestjs/common';
import type { RunFinished, TaskStatus, TicketStatus } from '@drover/contracts';
import type { Prisma, PrismaClient, Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { runChanged, taskChanged, ticketChanged } from '../outbox-messages';
import { ticketStatusFor } from '../task-state';

interface TaskRow {
  id: string;
  ticket_id: string;
  key: string;
}

/**
 * A runner finished a run. In one transaction, under the ticket's row lock (so
 * two tasks of a ticket finishing together cannot both miss a join): end the run
 * (compare-and-set on lease token and status), end the task, then release
 * dependents whose dependencies all succeeded, or block every transitive
 * dependent of a failure, and settle the ticket when nothing is left to run.
 */
export class RecordRunFinished {
  private readonly logger = new Logger(RecordRunFinished.name);

  constructor(private readonly prisma: PrismaClient) {}

  async execute(report: RunFinished, correlationId?: string): Promise<boolean> {
    const run = await this.prisma.run.findUnique({
      where: { id: report.runId },
      select: { ticketId: true },
    });
    if (!run) {
      this.logger.warn(`run ${report.runId}: finish report for an unknown run ignored`);
      return false;
    }
    return this.prisma.$transaction(async (tx) => {
      await tx.$queryRaw`SELECT id FROM ticket WHERE id = ${run.ticketId}::uuid FOR UPDATE`;
      const ended = await tx.run.updateManyAndReturn({
        where: {
          id: report.runId,
          leaseToken: report.leaseToken,
          status: { in: ['DISPATCHED', 'RUNNING'] },
        },
        data: {
          status: report.outcome,
          runnerId: report.runnerId,
          finishedAt: new Date(report.finishedAt),
          exitCode: report.exitCode,
          errorClass: report.outcome === 'SUCCEEDED' ? null : (report.errorClass ?? 'AGENT_FAILED'),
          errorMessage: report.errorMessage,
          result: (report.result as Prisma.InputJsonObject | null) ?? undefined,
        },
      });
      const endedRun = ended[0];
      if (!endedRun) {
        this.logger.debug(`run ${report.runId}: finish report ignored (stale lease or duplicate)`);
        return false;
      }
      const events: OutboxMessage[] = [runChanged(endedRun, report.outcome)];
      const taskStatus: TaskStatus = report.outcome;
      const before = await tx.task.findUnique({
        where: { id: endedRun.taskId },
        select: { status: true },
      });
      const [task] = await tx.task.updateManyAndReturn({
        where: {
          id: endedRun.taskId,
          attempt: endedRun.attempt,
          status: { in: ['DISPATCHED', 'RUNNING'] },
        },
        data: { status: taskStatus, finishedAt: new Date() },
        select: { id: true, ticketId: true, key: true },
      });
      if (task && before) {
        events.push(taskChanged(task, taskStatus, before.status));
        if (taskStatus === 'SUCCEEDED') {
          for (const t of await releaseDependents(tx, task.id)) {
            events.push(
              taskChanged({ id: t.id, ticketId: t.ticket_id, key: t.key }, 'READY', 'PENDING'),
            );
          }
        } else {
          for (const t of await blockDependents(tx, task.id)) {
            events.push(
              taskChanged({ id: t.id, ticketId: t.ticket_id, key: t.key }, 'BLOCKED', 'PENDING'),
            );
          }
        }
        const settled = await settleTicket(tx, task.ticketId);
        if (settled) events.push(ticketChanged(task.ticketId, settled.status, settled.previous));
      }
      await appendToOutbox(tx, events, correlationId);
      return true;
    });
  }
}

/** PENDING dependents of `taskId` whose dependencies have all succeeded become READY. */
function releaseDependents(tx: Tx, taskId: string): Promise<TaskRow[]> {
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
function blockDependents(tx: Tx, taskId: string): Promise<TaskRow[]> {
  return tx.$queryRaw<TaskRow[]>`
    WITH RECURSIVE downstream(id) AS (
      SELECT task_id FROM task_dependency WHERE depends_on_id = ${taskId}::uuid
      UNION
      SELECT d.task_id FROM task_dependency d JOIN downstream ON d.depends_on_id = downstream.id)
    UPDATE task t SET status = 'BLOCKED', finished_at = now(), updated_at = now()
    WHERE t.id IN (SELECT id FROM downstream) AND t.status IN ('PENDING', 'READY')
    RETURNING t.id, t.ticket_id, t.key`;
}

/** Recomputes the ticket's status from its tasks'; returns the change, if any. */
async function settleTicket(
  tx: Tx,
  ticketId: string,
): Promise<{ status: TicketStatus; previous: TicketStatus } | null> {
  const [ticket, groups] = await Promise.all([
    tx.ticket.findUniqueOrThrow({ where: { id: ticketId }, select: { status: true } }),
    tx.task.groupBy({ by: ['status'], where: { ticketId } }),
  ]);
  const status = ticketStatusFor(groups.map((g) => g.status));
  if (status === ticket.status) return null;
  const terminal = status === 'SUCCEEDED' || status === 'FAILED' || status === 'CANCELLED';
  await tx.ticket.update({
    where: { id: ticketId },
    data: { status, finishedAt: terminal ? new Date() : null },
  });
  return { status, previous: ticket.status };
}
