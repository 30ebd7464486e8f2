import { connect } from 'nats';
import { Subjects } from '@drover/contracts';
import { waitFor } from '@drover/testing';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// GET /providers: the scheduler's limits (asked over NATS) beside the tasks the
// database says are dispatched or running, of every project and of the caller's.

interface Load {
  provider: string;
  running: number;
  runningInProject: number;
  limit: number;
}

let stack: InProcessStack;
let other: string;

beforeAll(async () => {
  stack = await startInProcessStack({
    DROVER_CONCURRENCY: '{"claude":5,"default":3}',
    RUNNER_SLOTS: '8',
    SCHEDULER_POLL_MS: '50',
  });
  const created = await stack.request(stack.apiKey, 'POST', '/projects', {
    slug: 'team-p',
    name: 'Team P',
  });
  expect(created.status).toBe(201);
  other = (created.body as { key: { key: string } }).key.key;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

const providers = async (key = stack.apiKey) => {
  const res = await stack.request(key, 'GET', '/providers');
  return { status: res.status, body: res.body as { items: Load[] } };
};

const sleeper = async (key: string, project: string, keys: string[]) => {
  const res = await stack.request(key, 'POST', '/tickets', {
    title: 'sleeps',
    project,
    tasks: keys.map((k) => ({ key: k, steps: [{ run: 'sleep 60' }] })),
  });
  expect(res.status).toBe(201);
  return (res.body as { id: string }).id;
};

describe('GET /providers', () => {
  it("answers the scheduler's limits with nothing running", async () => {
    expect(await providers()).toEqual({
      status: 200,
      body: {
        items: [
          { provider: 'claude', running: 0, runningInProject: 0, limit: 5 },
          { provider: 'default', running: 0, runningInProject: 0, limit: 3 },
        ],
      },
    });
  });

  it("counts every project's active tasks against the limit, and the caller's apart", async () => {
    const ours = await sleeper(stack.apiKey, 'default', ['a', 'b']);
    const theirs = await sleeper(other, 'team-p', ['c']);
    await waitFor(
      async () =>
        (await providers()).body.items.find((p) => p.provider === 'default')?.running === 3,
      'three tasks to be active on the default provider',
      30_000,
    );
    expect((await providers()).body.items).toEqual([
      { provider: 'claude', running: 0, runningInProject: 0, limit: 5 },
      { provider: 'default', running: 3, runningInProject: 2, limit: 3 },
    ]);
    expect((await providers(other)).body.items[1]).toEqual({
      provider: 'default',
      running: 3,
      runningInProject: 1,
      limit: 3,
    });
    expect((await stack.request(stack.apiKey, 'POST', `/tickets/${ours}/cancel`)).status).toBe(200);
    expect((await stack.request(other, 'POST', `/tickets/${theirs}/cancel`)).status).toBe(200);
    await waitFor(
      async () => (await providers()).body.items[1].running === 0,
      'the cancelled tasks to leave the count',
      30_000,
    );
  }, 60_000);

  const unavailable = async () => {
    const started = Date.now();
    const res = await fetch(`${stack.baseUrl}/providers`, { headers: stack.auth });
    const body = (await res.json()) as { error: { code: string; message: string } };
    return {
      ms: Date.now() - started,
      answer: { status: res.status, retryAfter: res.headers.get('retry-after'), ...body.error },
    };
  };

  it('answers 503 SCHEDULER_UNAVAILABLE with Retry-After when no scheduler runs', async () => {
    await stack.stopService('scheduler');
    const { ms, answer } = await unavailable();
    expect(answer).toEqual({
      status: 503,
      retryAfter: '5',
      code: 'SCHEDULER_UNAVAILABLE',
      message: expect.stringMatching(
        /^no scheduler answered within 3000 ms \(.+\): the per-provider limits are known only to a running scheduler/,
      ) as unknown,
    });
    // Nobody listens on the subject: NATS says so at once.
    expect(ms).toBeLessThan(2000);
  });

  it('answers 503 after its timeout when a scheduler listens but never answers', async () => {
    const nc = await connect({ servers: stack.env.natsUrl });
    try {
      // Takes the request and keeps silent, as a scheduler stuck in a long pass would.
      nc.subscribe(`${stack.env.subjectPrefix}.${Subjects.describeLimits}`);
      await nc.flush();
      const { ms, answer } = await unavailable();
      expect(answer).toMatchObject({ status: 503, code: 'SCHEDULER_UNAVAILABLE' });
      expect(ms).toBeGreaterThanOrEqual(2900);
      expect(ms).toBeLessThan(6000);
    } finally {
      await nc.close();
    }
  });
});
