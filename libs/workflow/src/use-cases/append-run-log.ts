import { Logger } from '@nestjs/common';
import { Subjects, type RunLogAppended } from '@drover/contracts';
import type { Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { endHeldRun } from '../log-completion';
import { leaseHolderRun } from './lease-holder';
import { ReportUseCase, type Effects } from './report-use-case';

/**
 * Stores a batch of a run's output lines as one chunk and announces it. A
 * duplicate batch (same run, same first line) is ignored; a batch whose lease
 * token does not match the run's is rejected, and so is one for a run whose
 * runner was presumed lost (fenced out). Lines that follow a cancel or a timeout
 * are kept: they are that attempt's last output. The batch that completes the
 * log of a run whose finish report is held ends that run.
 */
export class AppendRunLog extends ReportUseCase<RunLogAppended> {
  private readonly logger = new Logger(AppendRunLog.name);

  protected override lockKey(report: RunLogAppended): string {
    return report.runId;
  }

  async apply(
    tx: Tx,
    batch: RunLogAppended,
    effects: Effects,
    correlationId?: string,
  ): Promise<boolean> {
    const end = batch.firstLine + batch.lines.length;
    // Lease check, chunk insert (a duplicate is skipped) and line count in one statement.
    const [run] = await tx.$queryRaw<
      { id: string; task_id: string; ticket_id: string; inserted: number; held: boolean }[]
    >`
      WITH r AS (${leaseHolderRun(batch)}),
      c AS (
        INSERT INTO log_chunk (run_id, first_line, line_count, lines)
        SELECT r.id, ${batch.firstLine}, ${batch.lines.length}, ${JSON.stringify(batch.lines)}::jsonb FROM r
        ON CONFLICT (run_id, first_line) DO NOTHING
        RETURNING run_id),
      u AS (
        UPDATE run SET log_lines = GREATEST(log_lines, ${end}),
          -- Lines of a run that ended counting them lost arrived after all.
          lost_log_lines = NULLIF(GREATEST(lost_log_lines - ${batch.lines.length}, 0), 0)
        FROM c WHERE run.id = c.run_id RETURNING run.id, run.pending_finish IS NOT NULL AS held)
      SELECT r.id, r.task_id, r.ticket_id, (SELECT count(*) FROM u)::int AS inserted,
        COALESCE((SELECT bool_or(held) FROM u), false) AS held
      FROM r`;
    if (!run) {
      this.logger.debug(`run ${batch.runId}: log batch ignored (unknown run or stale lease)`);
      return false;
    }
    if (!run.inserted) return false;
    const events: OutboxMessage[] = [
      {
        subject: Subjects.logAppended,
        ticketId: run.ticket_id,
        data: {
          runId: run.id,
          taskId: run.task_id,
          ticketId: run.ticket_id,
          firstLine: batch.firstLine,
          lines: batch.lines,
        },
      },
    ];
    // The run's finish report waits for its log: these may be the last lines. Its
    // events follow the lines', so the final task.changed comes after every line.
    if (run.held) await endHeldRun(tx, run.id, events, effects);
    await appendToOutbox(tx, events, correlationId);
    return true;
  }
}
