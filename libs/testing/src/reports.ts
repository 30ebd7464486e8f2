import { randomUUID } from 'node:crypto';
import type { PrismaClient } from '@drover/db';
import { RunFinished, RunStarted } from '@drover/contracts';

/** The lease a runner holds: which run, and the token that fences it. */
export interface LeaseRef {
  id: string;
  leaseToken: string;
}

const anyLease = (): LeaseRef => ({ id: randomUUID(), leaseToken: randomUUID() });

/** A valid start report, as a runner sends it. */
export function startReport(run: LeaseRef = anyLease(), runnerId = 'runner-1'): RunStarted {
  return RunStarted.parse({
    runId: run.id,
    leaseToken: run.leaseToken,
    runnerId,
    startedAt: new Date().toISOString(),
  });
}

/** A valid finish report: exit 0 on success, exit 1 with a message on failure. */
export function finishReport(
  run: LeaseRef = anyLease(),
  outcome: 'SUCCEEDED' | 'FAILED' = 'SUCCEEDED',
  runnerId = 'runner-1',
): RunFinished {
  return RunFinished.parse({
    runId: run.id,
    leaseToken: run.leaseToken,
    runnerId,
    outcome,
    exitCode: outcome === 'SUCCEEDED' ? 0 : 1,
    errorClass: null,
    errorMessage: outcome === 'SUCCEEDED' ? null : 'exit status 1',
    result: null,
    finishedAt: new Date().toISOString(),
  });
}

/**
 * Policy defaults for tests: one attempt (a failure is final unless a test asks
 * for retries), a minute's timeout, the production backoff shape.
 */
export const POLICY_DEFAULTS = {
  maxAttempts: 1,
  timeoutMs: 60_000,
  backoffBaseMs: 1_000,
  backoffFactor: 2,
  backoffCapMs: 60_000,
} as const;

/** Writes a runner the registry knows as ONLINE (runs are granted only to such runners). */
export async function registerRunner(
  prisma: PrismaClient,
  id: string,
  heartbeatIntervalMs = 1_000,
): Promise<void> {
  await prisma.runner.upsert({
    where: { id },
    create: { id, name: id, slots: 4, freeSlots: 4, heartbeatIntervalMs },
    update: { status: 'ONLINE', heartbeatIntervalMs, lastHeartbeatAt: new Date() },
  });
}
