/**
 * A workspace snapshot could not be made, fetched, trusted or restored. Never
 * the task's fault: the run ends INFRA with this message (and is retried).
 * `refused`: the snapshot breaks a rule (an entry, a limit) and is not extracted.
 */
export class SnapshotError extends Error {
  constructor(
    message: string,
    readonly reason: 'failed' | 'refused' | 'timeout' | 'aborted' = 'failed',
  ) {
    super(message);
    this.name = 'SnapshotError';
  }
}

/** Rethrows an error of restoring run `runId`'s workspace as one that names the run; a stop as it is. */
export function aboutRun(runId: string): (error: unknown) => never {
  return (error) => {
    if (!(error instanceof SnapshotError) || error.reason === 'aborted') throw error;
    const what = error.reason === 'refused' ? 'is refused' : 'could not be restored';
    throw new SnapshotError(
      `the workspace of run ${runId} ${what}: ${error.message}`,
      error.reason,
    );
  };
}
