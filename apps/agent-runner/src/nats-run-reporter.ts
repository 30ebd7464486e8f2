import { Logger } from '@nestjs/common';
import {
  Subjects,
  type ArtifactInfo,
  type LogLine,
  type RunArtifactStored,
  type RunDispatched,
  type RunFinished,
  type RunLogAppended,
} from '@drover/contracts';
import type { AgentOutcome, RunReporter } from '@drover/execution';
import type { NatsBus } from '@drover/messaging';

interface Unconfirmed {
  work: RunDispatched;
  report: RunFinished;
  sentAt: number;
}

/**
 * Sends run reports through JetStream. Each report has a deterministic message
 * id, so a retry after a lost acknowledgement is deduplicated by the broker; a
 * report that cannot be sent is retried until it is, or the runner stops.
 *
 * A finish report stays unconfirmed until the control plane shows it has ended
 * the run (a heartbeat no longer renews its lease). Until then the runner keeps
 * renewing the lease, so a report waiting in the stream while the orchestrator
 * restarts does not get a finished run presumed lost and run again, and it
 * sends the report again now and then, in case the broker lost it.
 */
export class NatsRunReporter implements RunReporter {
  private readonly logger = new Logger(NatsRunReporter.name);
  private readonly unconfirmed = new Map<string, Unconfirmed>();

  constructor(
    private readonly bus: NatsBus,
    private readonly runnerId: string,
    private readonly isStopped: () => boolean,
  ) {}

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

  artifact(work: RunDispatched, artifact: ArtifactInfo): Promise<void> {
    const report: RunArtifactStored = {
      runId: work.runId,
      leaseToken: work.leaseToken,
      runnerId: this.runnerId,
      artifact,
      storedAt: new Date().toISOString(),
    };
    // The content hash in the id: storing the same name again with new content is a new report.
    const msgId = `${work.leaseToken}:artifact:${artifact.name}:${artifact.sha256}`;
    return this.send(Subjects.runArtifactStored, report, msgId, work);
  }

  async finished(
    work: RunDispatched,
    outcome: AgentOutcome,
    finishedAt: Date,
    logLines: number,
  ): Promise<void> {
    const report: RunFinished = {
      runId: work.runId,
      leaseToken: work.leaseToken,
      runnerId: this.runnerId,
      ...outcome,
      finishedAt: finishedAt.toISOString(),
      logLines,
    };
    this.unconfirmed.set(work.runId, { work, report, sentAt: Date.now() });
    await this.send(Subjects.runFinished, report, `${work.leaseToken}:finished`, work);
  }

  /** Finished runs whose end the control plane has not yet been seen to record. */
  pending(): { runId: string; leaseToken: string }[] {
    return [...this.unconfirmed.values()].map(({ work }) => ({
      runId: work.runId,
      leaseToken: work.leaseToken,
    }));
  }

  /** The control plane no longer holds the run as running: its report arrived (or was moot). */
  confirm(runId: string): boolean {
    return this.unconfirmed.delete(runId);
  }

  /** Sends again the finish reports unconfirmed for longer than `olderThanMs`. */
  resend(olderThanMs: number): void {
    const now = Date.now();
    for (const entry of this.unconfirmed.values()) {
      if (now - entry.sentAt < olderThanMs) continue;
      entry.sentAt = now;
      const { work, report } = entry;
      void this.send(Subjects.runFinished, report, `${work.leaseToken}:finished`, work);
    }
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
