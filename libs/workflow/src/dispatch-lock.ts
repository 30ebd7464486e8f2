import type { Tx } from '@drover/db';

// One advisory lock for every dispatch pass and every cancel.
const DISPATCH_LOCK = 72_707_371;

/**
 * Waits for any dispatch pass in flight to commit, and keeps the next one out
 * until this transaction ends. Dispatch passes take it so that limits hold
 * however many schedulers run; a cancel takes it so that it never finds a task
 * DISPATCHED whose run is not yet committed (its run row would be invisible to
 * the cancel), and so always wins over the dispatch it races.
 */
export async function lockDispatch(tx: Tx): Promise<void> {
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${DISPATCH_LOCK}::bigint)`;
}
