import type { ArtifactKind } from '@drover/contracts';
import type { Artifact, Served } from '@drover/contracts/api';
import type { PrismaClient } from '@drover/db';

/** A recorded artifact of a run, as the API lists it (but for its download `url`). */
export type ArtifactRecord = Omit<Served<typeof Artifact>, 'url'>;

const artifactFields = {
  name: true,
  kind: true,
  size: true,
  sha256: true,
  contentType: true,
  createdAt: true,
} as const;

function toRecord(row: {
  name: string;
  kind: ArtifactKind;
  size: bigint;
  sha256: string;
  contentType: string;
  createdAt: Date;
}): ArtifactRecord {
  return { ...row, size: Number(row.size) };
}

/** Read side of run artifacts: what a runner recorded, never the store's own listing. */
export class ArtifactQueries {
  constructor(private readonly prisma: PrismaClient) {}

  /** The artifacts of a run, by name; null when the project has no such run. */
  async listForRun(projectId: string, runId: string): Promise<ArtifactRecord[] | null> {
    const run = await this.prisma.run.findUnique({
      where: { id: runId, projectId },
      select: { artifacts: { orderBy: { name: 'asc' }, select: artifactFields } },
    });
    return run ? run.artifacts.map(toRecord) : null;
  }

  /**
   * One recorded artifact of a run: `run` is false when the project has no such
   * run, `artifact` null when the run has no artifact of that name.
   */
  async find(
    projectId: string,
    runId: string,
    name: string,
  ): Promise<{ run: boolean; artifact: ArtifactRecord | null }> {
    const run = await this.prisma.run.findUnique({
      where: { id: runId, projectId },
      select: { artifacts: { where: { name }, select: artifactFields } },
    });
    const [artifact] = run?.artifacts ?? [];
    return { run: run !== null, artifact: artifact ? toRecord(artifact) : null };
  }
}
