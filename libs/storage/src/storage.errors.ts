/** What went wrong in artifact storage; callers map these to HTTP or RPC answers. */
export type StorageErrorCode =
  | 'ARTIFACT_NOT_FOUND'
  | 'INVALID_ARTIFACT_NAME'
  | 'INVALID_RUN_ID'
  | 'INVALID_CONTENT_TYPE'
  | 'INVALID_STORE_CONFIG'
  /** Something in the store's directory is not what the store put there (a symlink, a FIFO ...). */
  | 'UNSAFE_PATH'
  /** A stored file whose header or length does not add up. */
  | 'CORRUPT_ARTIFACT'
  /** The object store answered, but not as it should (an object it would not delete ...). */
  | 'BACKEND_ERROR';

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'StorageError';
  }
}

export class ArtifactNotFoundError extends StorageError {
  constructor(
    readonly runId: string,
    readonly artifactName: string,
  ) {
    super('ARTIFACT_NOT_FOUND', `artifact ${artifactName} of run ${runId} not found`);
    this.name = 'ArtifactNotFoundError';
  }
}

/** `artifactName` is the refused value as given; the message shows it escaped. */
export class InvalidArtifactNameError extends StorageError {
  constructor(
    readonly artifactName: string,
    readonly reason: string,
  ) {
    super('INVALID_ARTIFACT_NAME', `invalid artifact name ${quote(artifactName)}: ${reason}`);
    this.name = 'InvalidArtifactNameError';
  }
}

export class UnsafeArtifactPathError extends StorageError {
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super('UNSAFE_PATH', `refusing ${path}: ${reason}`);
    this.name = 'UnsafeArtifactPathError';
  }
}

/** The value in a message: JSON-escaped (control characters visible) and cut to 80 characters. */
export function quote(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
  return JSON.stringify(shown);
}
