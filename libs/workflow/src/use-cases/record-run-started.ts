import { Logger } from '@nestjs/common';
import type { RunStarted } from '@drover/contracts';
import type { Tx } from '@drover/db';
import { appendToOutbox } from '@drover/events';
import { ReportUseCase } from './report-use-case';
import { runChanged, runFactsOf, taskChanged, type RunRow } from '../outbox-messages';

/**
 * A runner began a run. Compare-and-set on (run id, lease token, DISPATCHED):
 * a duplicate, late or stale-lease report changes nothing.
 */
export class RecordRunStarted extends ReportUseCase<RunStarted> {
  private readonly logger = new Logger(RecordRunStarted.name);

  async apply(tx: Tx, report: RunStarted, correlationId?: string): Promise<boolean> {
    // Run and task in one statement: both compare-and-set, the task on its attempt.
    const [row] = await tx.$queryRaw<StartedRow[]>`
        WITH r AS (
          UPDATE run SET status = 'RUNNING', runner_id = ${report.runnerId},
                         started_at = ${new Date(report.startedAt)}
          WHERE id = ${report.runId}::uuid AND lease_token = ${report.leaseToken}::uuid
            AND status = 'DISPATCHED'
          RETURNING id, task_id, ticket_id, attempt, runner_id),
        t AS (
          UPDATE task SET status = 'RUNNING', updated_at = now() FROM r
          WHERE task.id = r.task_id AND task.status = 'DISPATCHED' AND task.attempt = r.attempt
          RETURNING task.key)
        SELECT r.id, r.task_id, r.ticket_id, r.attempt, r.runner_id, t.key FROM r LEFT JOIN t ON true`;
    if (!row) {
      this.logger.debug(`run ${report.runId}: start report ignored (stale lease or duplicate)`);
      return false;
    }
    const events = [runChanged(runFactsOf(row), 'RUNNING')];
    if (row.key !== null) {
      events.push(
        taskChanged(
          { id: row.task_id, ticketId: row.ticket_id, key: row.key },
          'RUNNING',
          'DISPATCHED',
        ),
      );
    }
    await appendToOutbox(tx, events, correlationId);
    return true;
  }
}

interface StartedRow extends RunRow {
  /** The task's key when the task moved to RUNNING too. */
  key: string | null;
}
