/**
 * A deadlock (40P01) or serialization failure (40001), however the driver
 * wrapped it: Postgres aborted the transaction, and running it again from the
 * start is safe.
 */
export function isTransientTxError(error: unknown): boolean {
  const text = String((error as Error | undefined)?.message ?? error);
  return /deadlock detected|could not serialize|40P01|40001|P2034/.test(text);
}

/** Runs `fn` (a whole transaction) again while it fails for a transient reason, `attempts` times at most. */
export async function retryTransient<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      if (attempt >= attempts || !isTransientTxError(error)) throw error;
    }
  }
}
