import { Logger } from '@nestjs/common';
import { Subjects, type RunLogAppended } from '@drover/contracts';
import type { Tx } from '@drover/db';
import { appendToOutbox } from '@drover/events';
import { leaseHolderRun } from './lease-holder';
import { ReportUseCase, type Effects } from './report-use-case';

/**
 * Stores a batch of a run's output lines as one chunk and announces it. A
 * duplicate batch (same run, same first line) is ignored; a batch whose lease
 * token does not match the run's is rejected, and so is one for a run whose
 * runner was presumed lost (fenced out). Lines that follow a cancel or a timeout
 * are kept: they are that attempt's last output.
 */
export class AppendRunLog extends ReportUseCase<RunLogAppended> {
  private readonly logger = new Logger(AppendRunLog.name);

  async apply(
    tx: Tx,
    batch: RunLogAppended,
    _effects: Effects,
    correlationId?: string,
  ): Promise<boolean> {
    const end = batch.firstLine + batch.lines.length;
    // Lease check, chunk insert (a duplicate is skipped) and line count in one statement.
    const [run] = await tx.$queryRaw<
      { id: string; task_id: string; ticket_id: string; inserted: number }[]
    >`
      WITH r AS (${leaseHolderRun(batch)}),
      c AS (
        INSERT INTO log_chunk (run_id, first_line, line_count, lines)
        SELECT r.id, ${batch.firstLine}, ${batch.lines.length}, ${JSON.stringify(batch.lines)}::jsonb FROM r
        ON CONFLICT (run_id, first_line) DO NOTHING
        RETURNING run_id),
      u AS (
        UPDATE run SET log_lines = GREATEST(log_lines, ${end})
        FROM c WHERE run.id = c.run_id RETURNING run.id)
      SELECT r.id, r.task_id, r.ticket_id, (SELECT count(*) FROM u)::int AS inserted FROM r`;
    if (!run) {
      this.logger.debug(`run ${batch.runId}: log batch ignored (unknown run or stale lease)`);
      return false;
    }
    if (!run.inserted) return false;
    await appendToOutbox(
      tx,
      [
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
      ],
      correlationId,
    );
    return true;
  }
}
