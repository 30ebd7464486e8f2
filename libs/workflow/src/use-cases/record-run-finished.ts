import { Logger } from '@nestjs/common';
import type { RunFinished } from '@drover/contracts';
import type { Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { endRun } from '../run-ending';
import { ReportUseCase, type Effects } from './report-use-case';

/**
 * A runner finished a run. Fenced on the lease token: a report for a run the
 * control plane already ended (timed out, cancelled, presumed lost and retried
 * elsewhere), or from a runner whose lease was taken away, changes nothing.
 */
export class RecordRunFinished extends ReportUseCase<RunFinished> {
  private readonly logger = new Logger(RecordRunFinished.name);

  async apply(
    tx: Tx,
    report: RunFinished,
    effects: Effects,
    correlationId?: string,
  ): Promise<boolean> {
    const events: OutboxMessage[] = [];
    const changed = await endRun(
      tx,
      {
        runId: report.runId,
        leaseToken: report.leaseToken,
        runnerId: report.runnerId,
        outcome: report.outcome,
        exitCode: report.exitCode,
        errorClass: report.errorClass,
        errorMessage: report.errorMessage,
        result: report.result,
        finishedAt: new Date(report.finishedAt),
        input: report.input,
      },
      events,
      effects,
    );
    if (!changed) {
      this.logger.warn(
        `run ${report.runId}: finish report from ${report.runnerId} rejected (stale lease, run already ended, or unknown run)`,
      );
      return false;
    }
    await appendToOutbox(tx, events, correlationId);
    return true;
  }
}
