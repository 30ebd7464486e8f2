import { Logger } from '@nestjs/common';
import type { TimerJob } from '@drover/contracts';
import { isTransientTxError, type PrismaClient, type Tx } from '@drover/db';
import { withTraceparent } from '@drover/telemetry';

/** Where timers go once the transaction that needs them has committed (BullMQ in production). */
export interface TimerPort {
  schedule(timers: readonly TimerJob[]): Promise<void>;
}

/**
 * What a transaction asks for beyond its own writes, carried out only after it
 * commits: timers to set. If setting them fails, the state is still right and
 * the reconciler sets them again from Postgres.
 */
export class Effects {
  readonly timers: TimerJob[] = [];
}

export interface Report<T> {
  report: T;
  correlationId?: string;
  /** Trace context of the message that carried the report. */
  traceparent?: string | null;
}

/**
 * A state change applied inside a transaction it is given, so that several can
 * share one commit (reports that arrive together), followed by its effects.
 * `R` is what the caller learns (changed or not, or a reply).
 */
export abstract class ReportUseCase<T, R = boolean> {
  private readonly log = new Logger(ReportUseCase.name);

  constructor(
    protected readonly prisma: PrismaClient,
    private readonly timers?: TimerPort,
  ) {}

  /** Applies one input in `tx`. */
  abstract apply(tx: Tx, report: T, effects: Effects, correlationId?: string): Promise<R>;

  /**
   * The id of the row `apply` locks first (a run's), if any: a batch is applied
   * in that order, so that batches ending or starting runs lock run rows in one
   * order and cannot deadlock on them.
   */
  protected lockKey?(report: T): string;

  async execute(report: T, correlationId?: string): Promise<R> {
    for (let attempt = 1; ; attempt++) {
      const effects = new Effects();
      try {
        const result = await this.prisma.$transaction((tx) =>
          this.apply(tx, report, effects, correlationId),
        );
        await this.afterCommit(effects);
        return result;
      } catch (error) {
        // Two transactions that lock the same rows in different orders: Postgres
        // aborts one; it is safe to run again from the start.
        if (attempt >= 3 || !isTransientTxError(error)) throw error;
      }
    }
  }

  /** Applies inputs in order in one transaction: one commit for all of them. */
  async executeMany(reports: readonly Report<T>[]): Promise<R[]> {
    const effects = new Effects();
    const results = await this.prisma.$transaction(
      async (tx) => {
        const out: R[] = new Array<R>(reports.length);
        for (const i of this.lockOrder(reports)) {
          const { report, correlationId, traceparent } = reports[i];
          // Each report's events join its own trace, not the batch's.
          out[i] = await withTraceparent(traceparent, () =>
            this.apply(tx, report, effects, correlationId),
          );
        }
        return out;
      },
      { timeout: 30_000 },
    );
    await this.afterCommit(effects);
    return results;
  }

  /** Indexes of `reports` in lock order (stable: reports on one row keep their order). */
  private lockOrder(reports: readonly Report<T>[]): number[] {
    const order = reports.map((_, i) => i);
    const key = this.lockKey?.bind(this);
    if (!key) return order;
    const keys = reports.map((r) => key(r.report));
    return order.sort((a, b) => (keys[a] < keys[b] ? -1 : keys[a] > keys[b] ? 1 : a - b));
  }

  private async afterCommit(effects: Effects): Promise<void> {
    if (!effects.timers.length) return;
    if (!this.timers) {
      this.log.warn(`${effects.timers.length} timers not set: no timer queue; the reconciler will`);
      return;
    }
    await this.timers.schedule(effects.timers).catch((error: Error) => {
      this.log.warn(
        `setting ${effects.timers.length} timers failed (${error.message}); the reconciler will`,
      );
    });
  }
}
