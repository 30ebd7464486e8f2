import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '@drover/db';
import { appendToOutbox } from '@drover/events';
import { taskChanged, ticketChanged } from '../outbox-messages';

/**
 * For this library's tests: leases every READY task the way the scheduler does
 * (a run with a fresh lease token and the next attempt, the task DISPATCHED, its
 * ticket RUNNING, and the events announcing them). Written here because this
 * library may not import @drover/scheduling (it depends on this one: Nx refuses
 * the cycle when building); the scheduler's own test drives a ticket through
 * DispatchReadyTasks and these use cases.
 */
export function leaseReadyTasks(prisma: PrismaClient): Promise<number> {
  return prisma.$transaction(async (tx) => {
    const ready = await tx.task.findMany({ where: { status: 'READY' } });
    for (const t of ready) {
      await tx.task.update({
        where: { id: t.id },
        data: { status: 'DISPATCHED', attempt: t.attempt + 1 },
      });
      await tx.run.create({
        data: {
          id: randomUUID(),
          taskId: t.id,
          ticketId: t.ticketId,
          projectId: t.projectId,
          attempt: t.attempt + 1,
          leaseToken: randomUUID(),
        },
      });
    }
    const started = await tx.ticket.updateManyAndReturn({
      where: { id: { in: ready.map((t) => t.ticketId) }, status: 'PENDING' },
      data: { status: 'RUNNING' },
      select: { id: true },
    });
    await appendToOutbox(tx, [
      ...started.map((t) => ticketChanged(t.id, 'RUNNING', 'PENDING')),
      ...ready.map((t) => taskChanged(t, 'DISPATCHED', 'READY')),
    ]);
    return ready.length;
  });
}

/** The newest run of a task, with its lease token. */
export function newestRun(prisma: PrismaClient, ticketId: string, key: string) {
  return prisma.run.findFirstOrThrow({
    where: { task: { ticketId, key } },
    orderBy: { attempt: 'desc' },
  });
}
