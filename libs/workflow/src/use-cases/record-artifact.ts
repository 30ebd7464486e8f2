import { Logger } from '@nestjs/common';
import { Subjects, type RunArtifactStored } from '@drover/contracts';
import type { Tx } from '@drover/db';
import { appendToOutbox } from '@drover/events';
import { leaseHolderRun } from './lease-holder';
import { ReportUseCase, type Effects } from './report-use-case';

/**
 * Records an artifact a runner put in the artifact store (its diff, an
 * iteration's log, result.json) and announces it. Fenced like log lines: a
 * report whose lease token does not match the run's is rejected, and so is one
 * for a run whose runner was presumed lost. The same name again replaces the
 * recorded size, digest and type (a re-upload); an identical report changes
 * nothing and announces nothing. Artifacts that follow a cancel or a timeout are
 * kept: they are that attempt's last output.
 */
export class RecordArtifact extends ReportUseCase<RunArtifactStored> {
  private readonly logger = new Logger(RecordArtifact.name);

  protected override lockKey(report: RunArtifactStored): string {
    return report.runId;
  }

  async apply(
    tx: Tx,
    report: RunArtifactStored,
    _effects: Effects,
    correlationId?: string,
  ): Promise<boolean> {
    const { name, kind, size, sha256, contentType } = report.artifact;
    // Lease check and upsert in one statement; an identical row is left alone (no RETURNING).
    const [run] = await tx.$queryRaw<
      { id: string; task_id: string; ticket_id: string; written: number }[]
    >`
      WITH r AS (${leaseHolderRun(report)}),
      a AS (
        INSERT INTO artifact (run_id, name, kind, size, sha256, content_type)
        SELECT r.id, ${name}, ${kind}::"ArtifactKind", ${size}::bigint, ${sha256}, ${contentType}
        FROM r
        ON CONFLICT (run_id, name) DO UPDATE SET
          kind = EXCLUDED.kind, size = EXCLUDED.size, sha256 = EXCLUDED.sha256,
          content_type = EXCLUDED.content_type, created_at = now()
        WHERE (artifact.kind, artifact.size, artifact.sha256, artifact.content_type)
          IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.size, EXCLUDED.sha256, EXCLUDED.content_type)
        RETURNING id)
      SELECT r.id, r.task_id, r.ticket_id, (SELECT count(*) FROM a)::int AS written FROM r`;
    if (!run) {
      this.logger.debug(
        `run ${report.runId}: artifact ${name} ignored (unknown run, stale lease or runner lost)`,
      );
      return false;
    }
    if (!run.written) return false;
    await appendToOutbox(
      tx,
      [
        {
          subject: Subjects.artifactStored,
          ticketId: run.ticket_id,
          data: {
            runId: run.id,
            taskId: run.task_id,
            ticketId: run.ticket_id,
            name,
            kind,
            size,
            sha256,
            contentType,
          },
        },
      ],
      correlationId,
    );
    return true;
  }
}
