import { Logger } from '@nestjs/common';
import { Subjects, type RunLogAppended } from '@drover/contracts';
import type { Prisma, PrismaClient } from '@drover/db';
import { appendToOutbox } from '@drover/events';

/**
 * Stores a batch of a run's output lines as one chunk and announces it. A
 * duplicate batch (same run, same first line) is ignored; a batch whose lease
 * token does not match the run's is rejected.
 */
export class AppendRunLog {
  private readonly logger = new Logger(AppendRunLog.name);

  constructor(private readonly prisma: PrismaClient) {}

  async execute(batch: RunLogAppended, correlationId?: string): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const run = await tx.run.findFirst({
        where: { id: batch.runId, leaseToken: batch.leaseToken },
        select: { id: true, taskId: true, ticketId: true },
      });
      if (!run) {
        this.logger.debug(`run ${batch.runId}: log batch ignored (unknown run or stale lease)`);
        return false;
      }
      const lines = batch.lines as unknown as Prisma.InputJsonValue;
      const inserted = await tx.logChunk.createMany({
        data: [{ runId: run.id, firstLine: batch.firstLine, lineCount: batch.lines.length, lines }],
        skipDuplicates: true,
      });
      if (!inserted.count) return false;
      const end = batch.firstLine + batch.lines.length;
      await tx.$executeRaw`UPDATE run SET log_lines = GREATEST(log_lines, ${end}) WHERE id = ${run.id}::uuid`;
      await appendToOutbox(
        tx,
        [
          {
            subject: Subjects.logAppended,
            ticketId: run.ticketId,
            data: {
              runId: run.id,
              taskId: run.taskId,
              ticketId: run.ticketId,
              firstLine: batch.firstLine,
              lines: batch.lines,
            },
          },
        ],
        correlationId,
      );
      return true;
    });
  }
}
