import { Logger } from '@nestjs/common';
import type { TimerJob } from '@drover/contracts';
import type { Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { decideApproval } from '../approvals';
import { taskChanged } from '../outbox-messages';
import { endHeldRun } from '../log-completion';
import { endRun } from '../run-ending';
import { ReportUseCase, type Effects } from './report-use-case';

/**
 * A timer came due (from BullMQ, or the reconciler found it overdue).
 * `retry`: a task waiting out its backoff after attempt N becomes READY.
 * `timeout`: a run still RUNNING past its deadline (and the grace its runner had
 * to report it) ends TIMED_OUT, its runner is told to stop, and the retry policy
 * applies. `approval`: a task still waiting for approval past its due time
 * fails (the approval is recorded as expired). `log`: a run whose finish report
 * waited for its log ends with that report, the lines still missing counted
 * lost. Compare-and-set on status and attempt: a duplicate or stale timer
 * changes nothing.
 */
export class FireTimer extends ReportUseCase<TimerJob> {
  private readonly logger = new Logger(FireTimer.name);

  async apply(tx: Tx, timer: TimerJob, effects: Effects, correlationId?: string): Promise<boolean> {
    const events: OutboxMessage[] = [];
    if (timer.kind === 'approval') {
      const ended = await decideApproval(
        tx,
        timer.id,
        { decision: 'expired', comment: null, by: null },
        events,
        effects,
      );
      if (!ended) return false;
      this.logger.warn(`task ${timer.id} failed: nobody approved it in time`);
    } else if (timer.kind === 'retry') {
      const [task] = await tx.$queryRaw<{ id: string; ticket_id: string; key: string }[]>`
        UPDATE task SET status = 'READY', ready_at = now(), retry_at = NULL, updated_at = now()
        WHERE id = ${timer.id}::uuid AND status = 'RETRY_WAIT' AND attempt = ${timer.attempt}
        RETURNING id, ticket_id, key`;
      if (!task) return false;
      events.push(
        taskChanged(
          { id: task.id, ticketId: task.ticket_id, key: task.key },
          'READY',
          'RETRY_WAIT',
          {
            attempt: timer.attempt,
          },
        ),
      );
    } else if (timer.kind === 'log') {
      if (!(await endHeldRun(tx, timer.id, events, effects, true))) return false;
      this.logger.warn(`run ${timer.id} ended without the whole of its log: the wait ran out`);
    } else if (await endHeldRun(tx, timer.id, events, effects, true)) {
      // Past its deadline while its finish report waited for its log: the report stands.
      this.logger.warn(`run ${timer.id} reached its deadline waiting for its log`);
    } else {
      const ended = await endRun(
        tx,
        {
          runId: timer.id,
          leaseToken: null,
          attempt: timer.attempt,
          from: ['RUNNING'],
          outcome: 'FAILED',
          exitCode: null,
          errorClass: 'TIMEOUT',
          errorMessage: 'the run passed its deadline and its runner did not report it stopped',
          result: null,
          finishedAt: new Date(),
          stop: 'TIMEOUT',
        },
        events,
        effects,
      );
      if (!ended) return false;
      this.logger.warn(`run ${timer.id} timed out without a report from its runner`);
    }
    await appendToOutbox(tx, events, correlationId);
    return true;
  }
}
