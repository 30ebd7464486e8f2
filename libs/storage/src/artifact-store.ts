import { createHash } from 'node:crypto';

export interface ArtifactMeta {
  name: string;
  /** Bytes. */
  size: number;
  /** Hex SHA-256 of the body, computed on put. */
  sha256: string;
  contentType: string;
}

export interface StoredArtifact {
  meta: Pick<ArtifactMeta, 'size' | 'contentType'>;
  body: NodeJS.ReadableStream;
}

/**
 * Where runs' artifacts live. Names are flat (`checkArtifactName`) and run ids
 * are UUIDs (`checkRunId`); both are checked by every method.
 */
export interface ArtifactStore {
  readonly kind: 'local' | 's3';
  /** Stores one artifact of a run, replacing one of the same name. */
  put(
    runId: string,
    name: string,
    body: Buffer | string,
    contentType: string,
  ): Promise<ArtifactMeta>;
  /** Opens a stored artifact; throws ArtifactNotFoundError when it is not there. */
  get(runId: string, name: string): Promise<StoredArtifact>;
  /** Removes all of a run's artifacts (idempotent). */
  removeRun(runId: string): Promise<void>;
}

/** The body as bytes (strings as UTF-8) with its size and SHA-256. */
export function digestBody(body: Buffer | string): { bytes: Buffer; size: number; sha256: string } {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return {
    bytes,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
  };
}
