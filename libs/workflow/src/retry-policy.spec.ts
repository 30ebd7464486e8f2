import { MAX_RETRY_AFTER_MS, TaskInput } from '@drover/contracts';
import { backoffMs, JITTER, resolvePolicy, retryDelay, shouldRetry } from './retry-policy';

const defaults = {
  maxAttempts: 5,
  timeoutMs: 3_600_000,
  backoffBaseMs: 1_000,
  backoffFactor: 2,
  backoffCapMs: 300_000,
};

describe('backoffMs', () => {
  const policy = { backoffBaseMs: 1_000, backoffFactor: 2, backoffCapMs: 6_000 };

  it('doubles from the base: about 1, 2, 4 s, then stops at the cap', () => {
    const exact = (attempt: number) => backoffMs(policy, attempt, () => 0.5);
    expect([1, 2, 3, 4, 5].map(exact)).toEqual([1_000, 2_000, 4_000, 6_000, 6_000]);
  });

  it('jitters by at most 20 % either way', () => {
    expect(backoffMs(policy, 2, () => 0)).toBe(2_000 * (1 - JITTER));
    expect(backoffMs(policy, 2, () => 0.999999)).toBe(Math.round(2_000 * (1 + JITTER)));
    for (let i = 0; i < 1_000; i++) {
      const d = backoffMs(policy, 3);
      expect(d).toBeGreaterThanOrEqual(4_000 * (1 - JITTER));
      expect(d).toBeLessThanOrEqual(4_000 * (1 + JITTER));
    }
  });
});

describe('retryDelay', () => {
  const policy = { backoffBaseMs: 1_000, backoffFactor: 2, backoffCapMs: 6_000 };
  const half = () => 0.5;

  it("waits the longer of the backoff and a RATE_LIMITED run's stated retry-after", () => {
    expect(retryDelay(policy, 1, 'RATE_LIMITED', 3_000, half)).toEqual({
      ms: 3_000,
      retryAfterMs: 3_000,
    });
    expect(retryDelay(policy, 3, 'RATE_LIMITED', 3_000, half)).toEqual({
      ms: 4_000,
      retryAfterMs: 3_000,
    });
    expect(retryDelay(policy, 1, 'RATE_LIMITED', null, half)).toEqual({
      ms: 1_000,
      retryAfterMs: null,
    });
  });

  it('clamps the stated wait and ignores it for other classes', () => {
    expect(retryDelay(policy, 1, 'RATE_LIMITED', 1e12, half).ms).toBe(MAX_RETRY_AFTER_MS);
    expect(retryDelay(policy, 1, 'RATE_LIMITED', -5, half)).toEqual({ ms: 1_000, retryAfterMs: 0 });
    expect(retryDelay(policy, 1, 'RATE_LIMITED', Number.NaN, half).retryAfterMs).toBeNull();
    expect(retryDelay(policy, 1, 'INFRA', 60_000, half)).toEqual({ ms: 1_000, retryAfterMs: null });
  });
});

describe('shouldRetry', () => {
  const policy = { maxAttempts: 3, retryOn: ['RUNNER_LOST', 'INFRA', 'CANCELLED'] as const };

  it('retries a listed class while attempts remain', () => {
    expect(shouldRetry({ ...policy, retryOn: [...policy.retryOn] }, 1, 'INFRA')).toBe(true);
    expect(shouldRetry({ ...policy, retryOn: [...policy.retryOn] }, 2, 'RUNNER_LOST')).toBe(true);
    expect(shouldRetry({ ...policy, retryOn: [...policy.retryOn] }, 3, 'INFRA')).toBe(false);
    expect(shouldRetry({ ...policy, retryOn: [...policy.retryOn] }, 1, 'AGENT_FAILED')).toBe(false);
  });

  it('never retries a cancelled run, whatever the list says', () => {
    expect(shouldRetry({ ...policy, retryOn: [...policy.retryOn] }, 1, 'CANCELLED')).toBe(false);
  });
});

describe('resolvePolicy', () => {
  it('takes what the task sets and the defaults for the rest', () => {
    const input = TaskInput.parse({
      key: 'a',
      steps: [{ run: 'true' }],
      timeout_seconds: 90,
      retry: { max_attempts: 2, backoff_seconds: 0.5 },
    });
    expect(resolvePolicy(input, defaults)).toEqual({
      maxAttempts: 2,
      timeoutMs: 90_000,
      backoffBaseMs: 500,
      backoffFactor: 2,
      backoffCapMs: 300_000,
      retryOn: ['RUNNER_LOST', 'INFRA', 'TIMEOUT', 'RATE_LIMITED'],
    });
  });

  it('lets a task replace the retried classes', () => {
    const input = TaskInput.parse({
      key: 'a',
      steps: [{ run: 'true' }],
      retry: { retry_on: ['AGENT_FAILED', 'AGENT_FAILED'] },
    });
    expect(resolvePolicy(input, defaults).retryOn).toEqual(['AGENT_FAILED']);
  });

  it('refuses retry settings out of range, naming the field', () => {
    const result = TaskInput.safeParse({
      key: 'a',
      steps: [{ run: 'true' }],
      retry: { max_attempts: 0, factor: 50, retry_on: ['SOMETIMES'], extra: 1 },
    });
    expect(result.success).toBe(false);
    const paths = result.error?.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining(['retry.max_attempts', 'retry.factor', 'retry.retry_on.0', 'retry']),
    );
  });
});
