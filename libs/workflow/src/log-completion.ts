import { RunFinished } from '@drover/contracts';
import type { Tx } from '@drover/db';
import type { OutboxMessage } from '@drover/events';
import { endRun, type RunEnding } from './run-ending';
import type { Effects } from './use-cases/report-use-case';

/**
 * How long a finish report waits for the lines it counts. Batches travel
 * beside the report and are stored concurrently with it, so they are normally
 * a second or two behind; past this, the run ends with the rest counted lost.
 */
export const LOG_WAIT_MS = 60_000;

/** A finish report held on its run (`run.pending_finish`) until the log is complete. */
interface HeldFinish {
  report: RunFinished;
  /** When the wait for the rest of the log runs out (ISO). */
  waitUntil: string;
}

/** The held report, checked again as the wire report was (the column is ours, but JSON). */
function heldOf(value: unknown): HeldFinish | null {
  if (value === null || typeof value !== 'object') return null;
  const { report, waitUntil } = value as Partial<Record<keyof HeldFinish, unknown>>;
  const parsed = RunFinished.safeParse(report);
  return parsed.success && typeof waitUntil === 'string'
    ? { report: parsed.data, waitUntil }
    : null;
}

const ACTIVE = ['DISPATCHED', 'RUNNING'];

/** How a runner's finish report ends its run. */
export function endingOf(report: RunFinished): RunEnding {
  return {
    runId: report.runId,
    leaseToken: report.leaseToken,
    runnerId: report.runnerId,
    outcome: report.outcome,
    exitCode: report.exitCode,
    errorClass: report.errorClass,
    errorMessage: report.errorMessage,
    result: report.result,
    finishedAt: new Date(report.finishedAt),
    input: report.input,
    retryAfterMs: report.retryAfterMs ?? null,
  };
}

/** How many lines of a run's log are stored (chunks are unique per first line). */
async function storedLines(tx: Tx, runId: string): Promise<number> {
  const [row] = await tx.$queryRaw<{ n: number }[]>`
    SELECT COALESCE(sum(line_count), 0)::int AS n FROM log_chunk WHERE run_id = ${runId}::uuid`;
  return row?.n ?? 0;
}

/**
 * Holds a finish report whose run has not stored every line it counts: the run
 * stays active (its runner keeps renewing the lease) and ends when the last
 * line is stored (`endHeldRun`) or the wait runs out (a `log` timer). Returns
 * false when the report may end the run now: the log is complete, the report
 * counts no lines (a runner from before `logLines`), or the run is not this
 * report's to end (stale lease, already ended), which `endRun` then refuses.
 * Locks the run row first, as `endRun` does.
 */
export async function holdForLog(tx: Tx, report: RunFinished, effects: Effects): Promise<boolean> {
  if (report.logLines === undefined) return false;
  const [run] = await tx.$queryRaw<{ attempt: number; pending_finish: unknown }[]>`
    SELECT attempt, pending_finish FROM run
    WHERE id = ${report.runId}::uuid AND lease_token = ${report.leaseToken}::uuid
      AND status::text = ANY(${ACTIVE}::text[])
    FOR UPDATE`;
  if (!run) return false;
  if ((await storedLines(tx, report.runId)) >= report.logLines) return false;
  // A report sent again keeps the first one's deadline.
  const waitUntil =
    heldOf(run.pending_finish)?.waitUntil ?? new Date(Date.now() + LOG_WAIT_MS).toISOString();
  const held: HeldFinish = { report, waitUntil };
  await tx.$executeRaw`
    UPDATE run SET pending_finish = ${JSON.stringify(held)}::jsonb WHERE id = ${report.runId}::uuid`;
  effects.timers.push({ kind: 'log', id: report.runId, attempt: run.attempt, dueAt: waitUntil });
  return true;
}

/**
 * Ends a run whose finish report is held, with that report, once its log is
 * complete; or at once with `force` (the wait ran out, its runner is gone, its
 * deadline passed), counting the lines still missing as lost. Returns false
 * when no report is held or lines are still missing.
 */
export async function endHeldRun(
  tx: Tx,
  runId: string,
  events: OutboxMessage[],
  effects: Effects,
  force = false,
): Promise<boolean> {
  const [run] = await tx.$queryRaw<{ pending_finish: unknown }[]>`
    SELECT pending_finish FROM run
    WHERE id = ${runId}::uuid AND pending_finish IS NOT NULL
      AND status::text = ANY(${ACTIVE}::text[])
    FOR UPDATE`;
  const held = run && heldOf(run.pending_finish);
  if (!held) return false;
  const { report } = held;
  const missing = (report.logLines ?? 0) - (await storedLines(tx, runId));
  if (missing > 0 && !force) return false;
  return endRun(tx, { ...endingOf(report), lostLogLines: Math.max(missing, 0) }, events, effects);
}

/**
 * Lines a run without a finish report is known to have lost: numbered by its
 * runner (below the highest line stored) yet never stored. Lines it had not
 * sent when it died are not known to anyone.
 */
export async function knownLostLines(tx: Tx, runId: string): Promise<number> {
  const [row] = await tx.$queryRaw<{ n: number }[]>`
    SELECT GREATEST(r.log_lines - COALESCE(sum(c.line_count), 0), 0)::int AS n
    FROM run r LEFT JOIN log_chunk c ON c.run_id = r.id
    WHERE r.id = ${runId}::uuid GROUP BY r.log_lines`;
  return row?.n ?? 0;
}
