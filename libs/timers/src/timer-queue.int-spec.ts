import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { Queues, timerJobId, type TimerJob } from '@drover/contracts';
import { createTestEnv, waitFor, type TestEnv } from '@drover/testing';
import { TimerQueue } from './timer-queue';

let env: TestEnv;
let redis: Redis;
let timers: TimerQueue;
/** Every handler call, in order. */
const fired: { timer: TimerJob; at: number }[] = [];
/** Ids of timers whose handler throws on its first call, as when Postgres is briefly down. */
const failOnce = new Set<string>();

beforeAll(async () => {
  env = await createTestEnv();
  redis = new Redis(env.redisUrl);
  timers = TimerQueue.create({ redisUrl: env.redisUrl, prefix: env.redisPrefix });
  timers.work(
    async (timer) => {
      fired.push({ timer, at: Date.now() });
      if (failOnce.delete(timer.id)) throw new Error('Postgres is briefly down');
      await Promise.resolve();
    },
    { concurrency: 4 },
  );
});

afterAll(async () => {
  await timers?.close();
  if (redis) {
    await deleteQueueKeys();
    await redis.quit();
  }
  await env?.destroy();
});

function timer(dueInMs: number): TimerJob {
  return {
    kind: 'retry',
    id: randomUUID(),
    attempt: 1,
    dueAt: new Date(Date.now() + dueInMs).toISOString(),
  };
}

function firings(t: TimerJob) {
  return fired.filter((f) => f.timer.id === t.id);
}

/** Deletes this file's queue keys only: other test files share the Redis. */
async function deleteQueueKeys(): Promise<number> {
  let deleted = 0;
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${env.redisPrefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

describe(TimerQueue.name, () => {
  it('fires a timer once, at its due time', async () => {
    const t = timer(300);
    const dueAt = Date.parse(t.dueAt);
    await timers.schedule([t]);

    const [first] = await waitFor(
      () => firings(t).length > 0 && firings(t),
      'the timer to fire',
      2_500,
      5,
    );
    expect(first.timer).toEqual(t);
    expect(first.at).toBeGreaterThanOrEqual(dueAt - 5);
    expect(first.at).toBeLessThan(dueAt + 2_000);
    await sleep(300);
    expect(firings(t)).toHaveLength(1);
  });

  it('fires a timer scheduled twice, or twice in one batch, once', async () => {
    const t = timer(200);
    const u = timer(200);
    await timers.schedule([t]);
    await timers.schedule([t]);
    await timers.schedule([u, u]);

    await waitFor(() => firings(t).length > 0 && firings(u).length > 0, 'both timers to fire');
    await sleep(500);
    expect(firings(t)).toHaveLength(1);
    expect(firings(u)).toHaveLength(1);
  });

  it('reports the timers Redis lost, and fires them once scheduled again', async () => {
    const set = [timer(2_000), timer(2_000), timer(2_000)];
    const never = timer(0);
    await timers.schedule(set);

    expect(await timers.missing(set)).toEqual([]);
    expect(await timers.missing([...set, never])).toEqual([never]);

    // Redis restarted empty.
    expect(await deleteQueueKeys()).toBeGreaterThan(0);
    expect(await timers.missing(set)).toEqual(set);

    await timers.schedule(await timers.missing(set));
    expect(await timers.missing(set)).toEqual([]);
    await waitFor(() => set.every((t) => firings(t).length > 0), 'the timers to fire', 5_000);
    await sleep(300);
    expect(set.map((t) => firings(t).length)).toEqual([1, 1, 1]);
  });

  it('retries a timer whose handler throws, with backoff', async () => {
    const t = timer(0);
    failOnce.add(t.id);
    await timers.schedule([t]);

    const [first, second] = await waitFor(
      () => firings(t).length >= 2 && firings(t),
      'the timer to be retried',
      10_000,
    );
    expect(second.at - first.at).toBeGreaterThanOrEqual(900);
    // Done: removed from Redis.
    await waitFor(async () => (await timers.missing([t])).length === 1, 'the job to be removed');
    await sleep(200);
    expect(firings(t)).toHaveLength(2);
  });

  it('fails an invalid payload without retries and without calling the handler', async () => {
    const raw = new Queue(Queues.timers, { connection: redis, prefix: env.redisPrefix });
    const before = fired.length;
    const valid = timer(0);
    try {
      const bad = { kind: 'retry', id: 'not-a-uuid', attempt: 0 };
      await raw.add('retry', bad, { jobId: 'bad-payload', attempts: 5 });
      // A valid job added after it shows the worker has got past the invalid one.
      await raw.add('retry', valid, { jobId: timerJobId(valid) });

      await waitFor(
        async () => (await raw.getJobState('bad-payload')) === 'failed',
        'the invalid job to fail',
      );
      await waitFor(() => firings(valid).length > 0, 'the valid timer to fire');
      const job = await raw.getJob('bad-payload');
      expect(job?.attemptsMade).toBe(1);
      expect(job?.failedReason).toMatch(/^invalid timer payload: id: .+; attempt: .+; dueAt: /);
      expect(fired.slice(before).map((f) => f.timer)).toEqual([valid]);
    } finally {
      await raw.close();
    }
  });

  it('closes safely twice, even while working', async () => {
    const other = TimerQueue.create({ redisUrl: env.redisUrl, prefix: env.redisPrefix });
    other.work(() => Promise.resolve(), { concurrency: 1 });
    await other.close();
    await other.close();
    await expect(other.schedule([timer(0)])).rejects.toThrow('closed');
  });
});
