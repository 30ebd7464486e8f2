import { Logger } from '@nestjs/common';
import type { RunFinished } from '@drover/contracts';
import type { Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { endingOf, holdForLog } from '../log-completion';
import { endRun } from '../run-ending';
import { ReportUseCase, type Effects } from './report-use-case';

/**
 * A runner finished a run. Fenced on the lease token: a report for a run the
 * control plane already ended (timed out, cancelled, presumed lost and retried
 * elsewhere), or from a runner whose lease was taken away, changes nothing. A
 * report counting log lines not all stored yet is held on the run, which ends
 * when they are (so a final task always has its whole log).
 */
export class RecordRunFinished extends ReportUseCase<RunFinished> {
  private readonly logger = new Logger(RecordRunFinished.name);

  protected override lockKey(report: RunFinished): string {
    return report.runId;
  }

  async apply(
    tx: Tx,
    report: RunFinished,
    effects: Effects,
    correlationId?: string,
  ): Promise<boolean> {
    // The run ends once its log is complete: until then the report is held on it.
    if (await holdForLog(tx, report, effects)) return true;
    const events: OutboxMessage[] = [];
    const changed = await endRun(tx, endingOf(report), events, effects);
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
