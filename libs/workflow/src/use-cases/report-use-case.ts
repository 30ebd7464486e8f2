import type { PrismaClient, Tx } from '@drover/db';
import { withTraceparent } from '@drover/telemetry';

export interface Report<T> {
  report: T;
  correlationId?: string;
  /** Trace context of the message that carried the report. */
  traceparent?: string | null;
}

/**
 * A runner report's effect on Postgres. Each report is applied inside a
 * transaction it is given, so the orchestrator can apply many in one commit.
 */
export abstract class ReportUseCase<T> {
  constructor(protected readonly prisma: PrismaClient) {}

  /** Applies one report in `tx`; true when it changed something (false: stale or duplicate). */
  abstract apply(tx: Tx, report: T, correlationId?: string): Promise<boolean>;

  execute(report: T, correlationId?: string): Promise<boolean> {
    return this.prisma.$transaction((tx) => this.apply(tx, report, correlationId));
  }

  /** Applies reports in order in one transaction: one commit for all of them. */
  executeMany(reports: readonly Report<T>[]): Promise<boolean[]> {
    return this.prisma.$transaction(
      async (tx) => {
        const changed: boolean[] = [];
        for (const { report, correlationId, traceparent } of reports) {
          // Each report's events join its own trace, not the batch's.
          changed.push(
            await withTraceparent(traceparent, () => this.apply(tx, report, correlationId)),
          );
        }
        return changed;
      },
      { timeout: 30_000 },
    );
  }
}
