import {
  durationSeconds,
  MAX_RETRY_AFTER_MS,
  RETRYABLE_BY_DEFAULT,
  type ErrorClass,
  type TaskInput,
  type TaskPolicy,
} from '@drover/contracts';

/** The defaults a task's policy is resolved against (from the orchestrator's config). */
export interface PolicyDefaults {
  maxAttempts: number;
  timeoutMs: number;
  backoffBaseMs: number;
  backoffFactor: number;
  backoffCapMs: number;
}

/** A submitted task's retry and timeout settings, with the defaults filled in. */
export function resolvePolicy(input: TaskInput, defaults: PolicyDefaults): TaskPolicy {
  const retry = input.retry ?? {};
  const seconds = (s: number | undefined) => (s === undefined ? undefined : Math.round(s * 1000));
  return {
    maxAttempts: retry.max_attempts ?? defaults.maxAttempts,
    timeoutMs:
      seconds(input.timeout_seconds) ??
      seconds(input.timeout === undefined ? undefined : durationSeconds(input.timeout)) ??
      defaults.timeoutMs,
    backoffBaseMs: seconds(retry.backoff_seconds) ?? defaults.backoffBaseMs,
    backoffFactor: retry.factor ?? defaults.backoffFactor,
    backoffCapMs: seconds(retry.max_backoff_seconds) ?? defaults.backoffCapMs,
    retryOn: [...new Set(retry.retry_on ?? RETRYABLE_BY_DEFAULT)],
  };
}

/** Share of the delay jitter may add or take away: 1 s becomes 0.8 to 1.2 s. */
export const JITTER = 0.2;

/**
 * Backoff before the retry that follows attempt `attempt` (1-based): base x
 * factor^(attempt - 1), capped, then jittered by up to +-20 % so that tasks
 * failing together do not retry together.
 */
export function backoffMs(
  policy: Pick<TaskPolicy, 'backoffBaseMs' | 'backoffFactor' | 'backoffCapMs'>,
  attempt: number,
  random: () => number = Math.random,
): number {
  const raw = policy.backoffBaseMs * policy.backoffFactor ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.backoffCapMs, raw);
  return Math.round(capped * (1 - JITTER + 2 * JITTER * random()));
}

/**
 * The wait before retrying attempt `attempt`: its backoff, and for a run its provider
 * refused (RATE_LIMITED) at least the retry-after it stated. That figure came from a
 * sandbox: it is used only for RATE_LIMITED, and clamped to MAX_RETRY_AFTER_MS.
 * `retryAfterMs` in the answer is the stated wait as used (null when none applies).
 */
export function retryDelay(
  policy: Pick<TaskPolicy, 'backoffBaseMs' | 'backoffFactor' | 'backoffCapMs'>,
  attempt: number,
  errorClass: ErrorClass,
  statedMs: number | null,
  random: () => number = Math.random,
): { ms: number; retryAfterMs: number | null } {
  const backoff = backoffMs(policy, attempt, random);
  const stated =
    errorClass === 'RATE_LIMITED' && statedMs !== null && Number.isFinite(statedMs)
      ? Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.ceil(statedMs)))
      : null;
  return { ms: Math.max(backoff, stated ?? 0), retryAfterMs: stated };
}

/**
 * Whether a failed attempt is retried: its class is one the task retries
 * (CANCELLED never is: a person asked for it to stop) and attempts remain.
 */
export function shouldRetry(
  policy: Pick<TaskPolicy, 'maxAttempts' | 'retryOn'>,
  attempt: number,
  errorClass: ErrorClass,
): boolean {
  return (
    errorClass !== 'CANCELLED' &&
    policy.retryOn.includes(errorClass) &&
    attempt < policy.maxAttempts
  );
}
