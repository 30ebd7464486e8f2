import { Logger } from '@nestjs/common';
import type { RunStarted, RunStatus, StartRunReply, TaskStatus } from '@drover/contracts';
import type { PrismaClient, Tx } from '@drover/db';
import { appendToOutbox } from '@drover/events';
import { runChanged, runFactsOf, taskChanged } from '../outbox-messages';
import { ReportUseCase, type Effects, type TimerPort } from './report-use-case';

export interface StartRunOptions {
  /** A lease lasts this many of the runner's heartbeat intervals. */
  leaseHeartbeats: number;
  /** Past the task's timeout, how long the runner has to report the timeout itself. */
  timeoutGraceMs: number;
}

interface StartRow {
  id: string;
  task_id: string;
  ticket_id: string;
  attempt: number;
  status: RunStatus;
  runner_id: string | null;
  lease_token: string;
  lease_expires_at: Date | null;
  timeout_ms: number;
  key: string;
  task_status: TaskStatus;
  task_attempt: number;
}

/**
 * A runner asks to start a run it pulled. Granted only to the holder of the
 * current lease token on a run still DISPATCHED, by a runner the registry knows
 * as ONLINE; a retried request from the runner that already started it is
 * granted again (its reply may have been lost). Anything else is refused, and
 * the runner must not execute: the work was cancelled, or given to another.
 *
 * On start the lease runs for `leaseHeartbeats` heartbeat intervals (heartbeats
 * renew it). The runner stops the run itself when the task's timeout passes; the
 * run's deadline (timeout plus a grace to report it) is when the control plane
 * ends it without the runner, on a timer.
 */
export class StartRun extends ReportUseCase<RunStarted, StartRunReply> {
  private readonly logger = new Logger(StartRun.name);

  protected override lockKey(report: RunStarted): string {
    return report.runId;
  }

  constructor(
    prisma: PrismaClient,
    timers: TimerPort,
    private readonly options: StartRunOptions,
  ) {
    super(prisma, timers);
  }

  async apply(
    tx: Tx,
    report: RunStarted,
    effects: Effects,
    correlationId?: string,
  ): Promise<StartRunReply> {
    const [run] = await tx.$queryRaw<StartRow[]>`
      SELECT r.id, r.task_id, r.ticket_id, r.attempt, r.status, r.runner_id, r.lease_token,
             r.lease_expires_at, t.timeout_ms, t.key, t.status AS task_status, t.attempt AS task_attempt
      FROM run r JOIN task t ON t.id = r.task_id
      WHERE r.id = ${report.runId}::uuid FOR UPDATE OF r`;
    const refuse = (reason: string): StartRunReply => {
      this.logger.warn(`run ${report.runId}: start refused to ${report.runnerId}: ${reason}`);
      return { ok: false, reason };
    };
    if (!run) return refuse('no such run');
    if (run.lease_token !== report.leaseToken) return refuse('the lease token is not the run’s');
    if (run.status === 'RUNNING' && run.runner_id === report.runnerId && run.lease_expires_at) {
      return { ok: true, leaseExpiresAt: run.lease_expires_at.toISOString() };
    }
    if (run.status !== 'DISPATCHED') {
      return refuse(`the run is ${run.status}${run.runner_id ? ` on ${run.runner_id}` : ''}`);
    }
    const [runner] = await tx.$queryRaw<{ status: string; heartbeat_interval_ms: number }[]>`
      SELECT status, heartbeat_interval_ms FROM runner WHERE id = ${report.runnerId}`;
    if (runner?.status !== 'ONLINE') {
      return refuse(`runner ${report.runnerId} is not registered as ONLINE`);
    }
    const [started] = await tx.$queryRaw<{ lease_expires_at: Date; deadline_at: Date }[]>`
      UPDATE run SET status = 'RUNNING', runner_id = ${report.runnerId},
        started_at = ${new Date(report.startedAt)},
        lease_expires_at = now() + make_interval(secs => ${runner.heartbeat_interval_ms * this.options.leaseHeartbeats} / 1000.0),
        deadline_at = now() + make_interval(secs => ${run.timeout_ms + this.options.timeoutGraceMs} / 1000.0)
      WHERE id = ${run.id}::uuid RETURNING lease_expires_at, deadline_at`;
    const events = [runChanged(runFactsOf({ ...run, runner_id: report.runnerId }), 'RUNNING')];
    if (run.task_status === 'DISPATCHED' && run.task_attempt === run.attempt) {
      await tx.$executeRaw`
        UPDATE task SET status = 'RUNNING', updated_at = now(),
          -- A runner took it: it waits for none any more.
          waiting_reason = NULL, waiting_since = NULL
        WHERE id = ${run.task_id}::uuid`;
      events.push(
        taskChanged(
          { id: run.task_id, ticketId: run.ticket_id, key: run.key },
          'RUNNING',
          'DISPATCHED',
          {
            attempt: run.attempt,
          },
        ),
      );
    }
    await appendToOutbox(tx, events, correlationId);
    effects.timers.push({
      kind: 'timeout',
      id: run.id,
      attempt: run.attempt,
      dueAt: started.deadline_at.toISOString(),
    });
    return { ok: true, leaseExpiresAt: started.lease_expires_at.toISOString() };
  }
}
