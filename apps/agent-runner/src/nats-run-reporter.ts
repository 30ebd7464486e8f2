import { Logger } from '@nestjs/common';
import {
  Subjects,
  type LogLine,
  type RunDispatched,
  type RunFinished,
  type RunLogAppended,
  type RunStarted,
} from '@drover/contracts';
import type { AgentOutcome, RunReporter } from '@drover/execution';
import type { NatsBus } from '@drover/messaging';

/**
 * Sends run reports through JetStream. Each report has a deterministic message
 * id, so a retry after a lost acknowledgement is deduplicated by the broker; a
 * report that cannot be sent is retried until it is, or the runner stops.
 */
export class NatsRunReporter implements RunReporter {
  private readonly logger = new Logger(NatsRunReporter.name);

  constructor(
    private readonly bus: NatsBus,
    private readonly runnerId: string,
    private readonly isStopped: () => boolean,
  ) {}

  started(work: RunDispatched, startedAt: Date): Promise<void> {
    const report: RunStarted = {
      runId: work.runId,
      leaseToken: work.leaseToken,
      runnerId: this.runnerId,
      startedAt: startedAt.toISOString(),
    };
    return this.send(Subjects.runStarted, report, `${work.leaseToken}:started`, work);
  }

  log(work: RunDispatched, firstLine: number, lines: LogLine[]): Promise<void> {
    const batch: RunLogAppended = {
      runId: work.runId,
      leaseToken: work.leaseToken,
      runnerId: this.runnerId,
      firstLine,
      lines,
    };
    return this.send(Subjects.runLogAppended, batch, `${work.leaseToken}:log:${firstLine}`, work);
  }

  finished(work: RunDispatched, outcome: AgentOutcome, finishedAt: Date): Promise<void> {
    const report: RunFinished = {
      runId: work.runId,
      leaseToken: work.leaseToken,
      runnerId: this.runnerId,
      ...outcome,
      finishedAt: finishedAt.toISOString(),
    };
    return this.send(Subjects.runFinished, report, `${work.leaseToken}:finished`, work);
  }

  private async send(
    subject: string,
    data: unknown,
    msgId: string,
    work: RunDispatched,
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.bus.publish(subject, data, { msgId, correlationId: work.ticketId });
        return;
      } catch (error) {
        if (this.isStopped() && attempt >= 5) {
          this.logger.error(
            `run ${work.runId}: gave up sending ${subject}: ${(error as Error).message}`,
          );
          return;
        }
        this.logger.warn(
          `run ${work.runId}: sending ${subject} failed (attempt ${attempt}), retrying`,
        );
        await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))));
      }
    }
  }
}
