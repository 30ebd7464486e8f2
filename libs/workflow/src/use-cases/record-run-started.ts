import { Logger } from '@nestjs/common';
import type { RunStarted } from '@drover/contracts';
import type { PrismaClient } from '@drover/db';
import { appendToOutbox } from '@drover/events';
import { runChanged, taskChanged } from '../outbox-messages';

/**
 * A runner began a run. Compare-and-set on (run id, lease token, DISPATCHED):
 * a duplicate, late or stale-lease report changes nothing.
 */
export class RecordRunStarted {
  private readonly logger = new Logger(RecordRunStarted.name);

  constructor(private readonly prisma: PrismaClient) {}

  async execute(report: RunStarted, correlationId?: string): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const started = await tx.run.updateManyAndReturn({
        where: { id: report.runId, leaseToken: report.leaseToken, status: 'DISPATCHED' },
        data: {
          status: 'RUNNING',
          runnerId: report.runnerId,
          startedAt: new Date(report.startedAt),
        },
      });
      const run = started[0];
      if (!run) {
        this.logger.debug(`run ${report.runId}: start report ignored (stale lease or duplicate)`);
        return false;
      }
      const tasks = await tx.task.updateManyAndReturn({
        where: { id: run.taskId, status: 'DISPATCHED', attempt: run.attempt },
        data: { status: 'RUNNING' },
        select: { id: true, ticketId: true, key: true },
      });
      await appendToOutbox(
        tx,
        [
          runChanged(run, 'RUNNING'),
          ...tasks.map((task) => taskChanged(task, 'RUNNING', 'DISPATCHED')),
        ],
        correlationId,
      );
      return true;
    });
  }
}
