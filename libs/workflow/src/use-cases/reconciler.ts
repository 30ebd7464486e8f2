import { Logger } from '@nestjs/common';
import type { TaskSpec, TimerJob } from '@drover/contracts';
import type { PrismaClient, Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { runDispatched } from '../outbox-messages';
import { endHeldRun, knownLostLines } from '../log-completion';
import { endRun } from '../run-ending';
import type { FireTimer } from './fire-timer';
import { ReportUseCase, type Effects, type TimerPort } from './report-use-case';

/** The timer store as the reconciler needs it: set timers, and find which are gone. */
export interface TimerStore extends TimerPort {
  missing(timers: readonly TimerJob[]): Promise<TimerJob[]>;
}

export interface ReconcilerOptions {
  /** A run dispatched this long ago and still not started gets its work message again. */
  startDeadlineMs: number;
  /** A timer this overdue is carried out here instead of by BullMQ. */
  timerGraceMs: number;
  /** Most rows of each kind handled per pass. */
  batch: number;
  /** A lease lasts this many of its runner's heartbeat intervals. */
  leaseHeartbeats: number;
}

export interface ReconcileReport {
  leasesExpired: number;
  redispatched: number;
  overdueTimers: number;
  timersRestored: number;
}

/**
 * Ends a run whose lease expired: RUNNER_LOST, retried per the task's policy,
 * with the lines its runner numbered but never delivered counted lost; or, when
 * its finish report was waiting for its log, as that report says.
 */
class ExpireLease extends ReportUseCase<{ runId: string; runnerId: string | null }> {
  protected override lockKey(run: { runId: string }): string {
    return run.runId;
  }

  async apply(
    tx: Tx,
    run: { runId: string; runnerId: string | null },
    effects: Effects,
  ): Promise<boolean> {
    const events: OutboxMessage[] = [];
    // A runner that died after its finish report: the report stands, missing lines are lost.
    const ended =
      (await endHeldRun(tx, run.runId, events, effects, true)) ||
      (await this.lost(tx, run, events, effects));
    // Another path may have ended it since it was read; then there is nothing to do.
    if (ended) await appendToOutbox(tx, events);
    return ended;
  }

  private async lost(
    tx: Tx,
    run: { runId: string; runnerId: string | null },
    events: OutboxMessage[],
    effects: Effects,
  ): Promise<boolean> {
    return endRun(
      tx,
      {
        runId: run.runId,
        leaseToken: null,
        from: ['RUNNING'],
        outcome: 'FAILED',
        exitCode: null,
        errorClass: 'RUNNER_LOST',
        errorMessage: `lease expired: runner ${run.runnerId ?? '?'} stopped renewing it`,
        result: null,
        finishedAt: new Date(),
        stop: 'LEASE_LOST',
        lostLogLines: await knownLostLines(tx, run.runId),
      },
      events,
      effects,
    );
  }
}

interface UnstartedRow {
  id: string;
  task_id: string;
  ticket_id: string;
  attempt: number;
  lease_token: string;
  agent: string;
  spec: TaskSpec;
  timeout_ms: number;
  project_id: string;
  own_runners: boolean;
}

/**
 * Finds what a lost message, a lost timer or a dead runner would strand, from
 * Postgres alone, and repairs it. Every repair is the same compare-and-set
 * transition the normal path makes, so racing the normal path is harmless.
 *
 * - RUNNING runs whose lease expired (their runner stopped heartbeating, or went
 *   STALE): ended RUNNER_LOST and retried per policy.
 * - DISPATCHED runs never started within the start deadline (the work message
 *   was lost with NATS' store): the work message is sent again. A duplicate is
 *   harmless: only one runner is granted the start.
 * - RETRY_WAIT tasks, RUNNING runs and runs whose finish report waits for their
 *   log, whose timer is overdue (Redis lost it, or no worker ran it): the timer
 *   is carried out here (and set again when missing).
 * - RETRY_WAIT tasks and open approvals with a due time whose timer is missing
 *   from Redis: set again; approvals overdue: failed here.
 *
 * READY tasks need no repair: the scheduler reads them from Postgres on a timer.
 */
export class Reconciler {
  private readonly logger = new Logger(Reconciler.name);
  private readonly expire: ExpireLease;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly fireTimer: FireTimer,
    private readonly timers: TimerStore,
    private readonly options: ReconcilerOptions,
  ) {
    this.expire = new ExpireLease(prisma, timers);
  }

  /**
   * Ends RUNNING runs whose lease has expired; returns how many. `blindAt`: the
   * last moment heartbeats could not be received or recorded. A lease of an
   * ONLINE runner that lapsed because of that is not held against it: it counts
   * only once a full lease period of heartbeats could have renewed it.
   */
  async expireLeases(blindAt: Date = new Date(0)): Promise<number> {
    const due = await this.prisma.$queryRaw<{ id: string; runner_id: string | null }[]>`
      SELECT r.id, r.runner_id FROM run r LEFT JOIN runner rn ON rn.id = r.runner_id
      WHERE r.status = 'RUNNING' AND r.lease_expires_at < now()
        AND (rn.status IS DISTINCT FROM 'ONLINE'
          OR ${blindAt}::timestamptz < now() - make_interval(
               secs => rn.heartbeat_interval_ms * ${this.options.leaseHeartbeats} / 1000.0))
      ORDER BY r.lease_expires_at LIMIT ${this.options.batch}`;
    if (!due.length) return 0;
    const ended = await this.expire.executeMany(
      due.map((r) => ({ report: { runId: r.id, runnerId: r.runner_id } })),
    );
    const count = ended.filter(Boolean).length;
    if (count) this.logger.warn(`${count} runs lost their lease: ended RUNNER_LOST`);
    return count;
  }

  async pass(blindAt?: Date): Promise<ReconcileReport> {
    const report: ReconcileReport = {
      leasesExpired: await this.expireLeases(blindAt),
      redispatched: await this.redispatchUnstarted(),
      overdueTimers: await this.fireOverdueTimers(),
      timersRestored: await this.restoreTimers(),
    };
    if (report.redispatched || report.overdueTimers || report.timersRestored) {
      this.logger.warn(
        `repaired: ${report.redispatched} work messages sent again, ${report.overdueTimers} overdue timers fired, ${report.timersRestored} timers set again`,
      );
    }
    return report;
  }

  private redispatchUnstarted(): Promise<number> {
    const deadline = this.options.startDeadlineMs / 1000;
    return this.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<UnstartedRow[]>`
        WITH due AS (
          SELECT id FROM run
          WHERE status = 'DISPATCHED'
            AND COALESCE(lease_expires_at, dispatched_at + make_interval(secs => ${deadline})) < now()
          ORDER BY dispatched_at LIMIT ${this.options.batch} FOR UPDATE SKIP LOCKED),
        r AS (
          UPDATE run SET lease_expires_at = now() + make_interval(secs => ${deadline})
          FROM due WHERE run.id = due.id
          RETURNING run.id, run.task_id, run.ticket_id, run.attempt, run.lease_token)
        SELECT r.*, t.agent, t.spec, t.timeout_ms, t.project_id, p.own_runners
        FROM r JOIN task t ON t.id = r.task_id JOIN project p ON p.id = t.project_id`;
      await appendToOutbox(
        tx,
        rows.map((r) =>
          runDispatched(
            {
              runId: r.id,
              taskId: r.task_id,
              ticketId: r.ticket_id,
              attempt: r.attempt,
              leaseToken: r.lease_token,
              agent: r.agent,
              spec: r.spec,
              timeoutMs: r.timeout_ms,
            },
            // Routed as the scheduler routes it: a project with its own pool gets it there.
            { projectId: r.project_id, ownRunners: r.own_runners },
          ),
        ),
      );
      return rows.length;
    });
  }

  private async fireOverdueTimers(): Promise<number> {
    const grace = this.options.timerGraceMs / 1000;
    const retries = await this.prisma.$queryRaw<{ id: string; attempt: number; due: Date }[]>`
      SELECT id, attempt, retry_at AS due FROM task
      WHERE status = 'RETRY_WAIT' AND retry_at < now() - make_interval(secs => ${grace})
      ORDER BY retry_at LIMIT ${this.options.batch}`;
    const deadlines = await this.prisma.$queryRaw<{ id: string; attempt: number; due: Date }[]>`
      SELECT id, attempt, deadline_at AS due FROM run
      WHERE status = 'RUNNING' AND deadline_at < now() - make_interval(secs => ${grace})
      ORDER BY deadline_at LIMIT ${this.options.batch}`;
    const approvals = await this.prisma.$queryRaw<{ id: string; attempt: number; due: Date }[]>`
      SELECT a.task_id AS id, 1 AS attempt, a.due_at AS due
      FROM approval a JOIN task t ON t.id = a.task_id AND t.status = 'AWAITING_APPROVAL'
      WHERE a.decision IS NULL AND a.due_at < now() - make_interval(secs => ${grace})
      ORDER BY a.due_at LIMIT ${this.options.batch}`;
    const logWaits = await this.heldForLog(grace);
    const timers: TimerJob[] = [
      ...retries.map((r) => timer('retry', r)),
      ...deadlines.map((r) => timer('timeout', r)),
      ...approvals.map((r) => timer('approval', r)),
      ...logWaits.map((r) => timer('log', r)),
    ];
    if (!timers.length) return 0;
    const fired = await this.fireTimer.executeMany(timers.map((t) => ({ report: t })));
    return fired.filter(Boolean).length;
  }

  /** Runs whose finish report waits for their log, the wait over `graceSecs` ago (or any). */
  private heldForLog(graceSecs: number | null) {
    return this.prisma.$queryRaw<{ id: string; attempt: number; due: Date }[]>`
      SELECT id, attempt, due FROM (
        SELECT id, attempt, (pending_finish->>'waitUntil')::timestamptz AS due FROM run
        WHERE status = 'RUNNING' AND pending_finish IS NOT NULL) held
      WHERE ${graceSecs}::float8 IS NULL OR due < now() - make_interval(secs => ${graceSecs}::float8)
      ORDER BY due LIMIT ${this.options.batch}`;
  }

  private async restoreTimers(): Promise<number> {
    const waiting = await this.prisma.$queryRaw<{ id: string; attempt: number; due: Date }[]>`
      SELECT id, attempt, retry_at AS due FROM task
      WHERE status = 'RETRY_WAIT' AND retry_at IS NOT NULL
      ORDER BY retry_at LIMIT ${this.options.batch}`;
    const approvals = await this.prisma.$queryRaw<{ id: string; attempt: number; due: Date }[]>`
      SELECT a.task_id AS id, 1 AS attempt, a.due_at AS due
      FROM approval a JOIN task t ON t.id = a.task_id AND t.status = 'AWAITING_APPROVAL'
      WHERE a.decision IS NULL AND a.due_at IS NOT NULL
      ORDER BY a.due_at LIMIT ${this.options.batch}`;
    const logWaits = await this.heldForLog(null);
    if (!waiting.length && !approvals.length && !logWaits.length) return 0;
    const missing = await this.timers.missing([
      ...waiting.map((r) => timer('retry', r)),
      ...approvals.map((r) => timer('approval', r)),
      ...logWaits.map((r) => timer('log', r)),
    ]);
    if (missing.length) await this.timers.schedule(missing);
    return missing.length;
  }
}

function timer(kind: TimerJob['kind'], row: { id: string; attempt: number; due: Date }): TimerJob {
  return { kind, id: row.id, attempt: row.attempt, dueAt: row.due.toISOString() };
}
