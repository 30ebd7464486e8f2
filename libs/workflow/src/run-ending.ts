import {
  runStatusForError,
  type ErrorClass,
  type InputAsk,
  type RunOutcome,
  type RunStatus,
  type StopReason,
  type TaskStatus,
} from '@drover/contracts';
import type { Tx } from '@drover/db';
import type { OutboxMessage } from '@drover/events';
import {
  runChanged,
  runFactsOf,
  runStopRequested,
  taskChanged,
  type RunRow,
} from './outbox-messages';
import { retryDelay, shouldRetry } from './retry-policy';
import { askForInput, MAX_INPUT_ROUNDS } from './inputs';
import { spentBudget, stopForBudget, usageOf } from './budget';
import { afterTaskEnded, closeTasks } from './task-ending';
import type { Effects } from './use-cases/report-use-case';

/** How a run ends, whoever decided it: its runner, a timer, the reconciler, a cancel. */
export interface RunEnding {
  runId: string;
  /** A runner's report is fenced on its lease token; the control plane's own decisions pass null. */
  leaseToken: string | null;
  /** Only if the run is this attempt (timers name the attempt they were set for). */
  attempt?: number;
  /** The reporting runner (kept as the run's runner). */
  runnerId?: string;
  /** Only if the run is in one of these (default: either active status). */
  from?: readonly RunStatus[];
  outcome: RunOutcome;
  exitCode: number | null;
  errorClass: ErrorClass | null;
  errorMessage: string | null;
  result: Record<string, unknown> | null;
  finishedAt: Date;
  /** Set when the control plane ends a run its runner may still be executing. */
  stop?: StopReason;
  /** NEEDS_INPUT: what the run asks for. */
  input?: InputAsk;
  /** Lines of its log known never to have been stored (see log-completion). */
  lostLogLines?: number;
  /** RATE_LIMITED: the wait the provider stated (ms); the retry waits at least this long. */
  retryAfterMs?: number | null;
}

interface TaskPolicyRow {
  id: string;
  ticket_id: string;
  key: string;
  status: TaskStatus;
  max_attempts: number;
  backoff_base_ms: number;
  backoff_factor: number;
  backoff_cap_ms: number;
  retry_on: ErrorClass[];
}

const ACTIVE: readonly RunStatus[] = ['DISPATCHED', 'RUNNING'];

/**
 * Ends a run and decides what becomes of its task, in the caller's transaction:
 * success releases dependents; a retryable failure with attempts left waits in
 * RETRY_WAIT for a backoff timer (or, for a run its runner gave back, is READY
 * at once); anything else ends the task and blocks its dependents.
 *
 * Compare-and-set throughout: the run must be active (and match the lease token
 * and attempt when given), the task must still be on this run's attempt. The
 * run row is locked first, so every path that ends a run (report, timer, lease
 * expiry, cancel) is serialised on it. Returns false when nothing changed.
 */
export async function endRun(
  tx: Tx,
  ending: RunEnding,
  events: OutboxMessage[],
  effects: Effects,
): Promise<boolean> {
  const asks = ending.outcome === 'NEEDS_INPUT' && ending.input !== undefined;
  const errorClass: ErrorClass | null =
    ending.outcome === 'SUCCEEDED' || asks
      ? null
      : ending.outcome === 'RELEASED'
        ? 'RUNNER_LOST'
        : (ending.errorClass ?? 'AGENT_FAILED');
  const runStatus: RunStatus = asks
    ? 'NEEDS_INPUT'
    : errorClass === null
      ? 'SUCCEEDED'
      : runStatusForError(errorClass);
  const usage = usageOf(ending.result);
  const [run] = await tx.$queryRaw<RunRow[]>`
    UPDATE run SET status = ${runStatus}::"RunStatus",
                   cost_usd = ${usage.costUsd}, input_tokens = ${usage.inputTokens},
                   output_tokens = ${usage.outputTokens},
                   runner_id = COALESCE(${ending.runnerId ?? null}, runner_id),
                   finished_at = ${ending.finishedAt}, exit_code = ${ending.exitCode},
                   error_class = ${errorClass}::"ErrorClass", error_message = ${ending.errorMessage},
                   result = ${ending.result === null ? null : JSON.stringify(ending.result)}::jsonb,
                   -- A finish report held for its log is settled by whichever path ends the run.
                   pending_finish = NULL,
                   lost_log_lines = COALESCE(NULLIF(${ending.lostLogLines ?? 0}::int, 0), lost_log_lines)
    WHERE id = ${ending.runId}::uuid
      AND (${ending.leaseToken}::uuid IS NULL OR lease_token = ${ending.leaseToken}::uuid)
      AND (${ending.attempt ?? null}::int IS NULL OR attempt = ${ending.attempt ?? null}::int)
      AND status = ANY(${ending.from ?? ACTIVE}::"RunStatus"[])
    RETURNING id, task_id, ticket_id, attempt, runner_id`;
  if (!run) return false;
  const facts = runFactsOf(run, ending.exitCode, errorClass, ending.errorMessage);
  events.push(runChanged(facts, runStatus));
  if (ending.stop) events.push(runStopRequested(facts, ending.stop));

  const [task] = await tx.$queryRaw<TaskPolicyRow[]>`
    SELECT id, ticket_id, key, status, max_attempts, backoff_base_ms, backoff_factor,
           backoff_cap_ms, retry_on::text[] AS retry_on
    FROM task WHERE id = ${run.task_id}::uuid AND attempt = ${run.attempt}
      AND status IN ('DISPATCHED', 'RUNNING')
    FOR UPDATE`;
  if (!task) return true;
  const ref = { id: task.id, ticketId: task.ticket_id, key: task.key };
  const policy = {
    maxAttempts: task.max_attempts,
    retryOn: task.retry_on,
    backoffBaseMs: task.backoff_base_ms,
    backoffFactor: task.backoff_factor,
    backoffCapMs: task.backoff_cap_ms,
  };

  // A run that spent what was left of its ticket's budget: nothing starts after it.
  const overBudget = usage.costUsd === null ? undefined : await spentBudget(tx, task.ticket_id);
  let reason: string | null = null;
  if (asks && ending.input) {
    if (
      !overBudget &&
      (await askForInput(tx, { ...ref, status: task.status }, run.id, ending.input, events))
    ) {
      return true;
    }
    reason = overBudget
      ? "asked for input, but the ticket's budget is spent"
      : `asked for input ${MAX_INPUT_ROUNDS} times; no more requests are taken`;
  } else if (ending.outcome === 'RELEASED' && run.attempt < policy.maxAttempts && !overBudget) {
    // Given back by a runner shutting down: not the task's fault, no backoff.
    await tx.$executeRaw`
      UPDATE task SET status = 'READY', ready_at = now(), updated_at = now()
      WHERE id = ${task.id}::uuid`;
    events.push(taskChanged(ref, 'READY', task.status, { attempt: run.attempt }));
    return true;
  }
  if (errorClass !== null && overBudget && shouldRetry(policy, run.attempt, errorClass)) {
    reason = `not retried: the ticket's budget of $${overBudget.budget.toFixed(2)} is spent`;
  } else if (errorClass !== null && shouldRetry(policy, run.attempt, errorClass)) {
    const delay = retryDelay(policy, run.attempt, errorClass, ending.retryAfterMs ?? null);
    const retryAt = new Date(Date.now() + delay.ms);
    await tx.$executeRaw`
      UPDATE task SET status = 'RETRY_WAIT', retry_at = ${retryAt}, updated_at = now()
      WHERE id = ${task.id}::uuid`;
    events.push(
      taskChanged(ref, 'RETRY_WAIT', task.status, {
        attempt: run.attempt,
        retryAt,
        retryAfterMs: delay.retryAfterMs ?? undefined,
      }),
    );
    effects.timers.push({
      kind: 'retry',
      id: task.id,
      attempt: run.attempt,
      dueAt: retryAt.toISOString(),
    });
    return true;
  }
  const final = reason ? 'FAILED' : finalStatus(errorClass);
  await tx.$executeRaw`
    UPDATE task SET status = ${final}::"TaskStatus", reason = COALESCE(${reason}, reason),
                    finished_at = now(), updated_at = now()
    WHERE id = ${task.id}::uuid`;
  events.push(
    taskChanged(ref, final, task.status, { attempt: run.attempt, reason: reason ?? undefined }),
  );
  await afterTaskEnded(tx, ref, final, events, 0, effects);
  if (overBudget) {
    const stopped = await stopForBudget(tx, task.ticket_id, overBudget, events);
    if (stopped) await closeTasks(tx, task.ticket_id, stopped, events);
  }
  return true;
}

/** The task status a run's end leaves it in when it is not retried. */
function finalStatus(errorClass: ErrorClass | null): TaskStatus {
  if (errorClass === null) return 'SUCCEEDED';
  if (errorClass === 'CANCELLED') return 'CANCELLED';
  if (errorClass === 'TIMEOUT') return 'TIMED_OUT';
  return 'FAILED';
}
