import {
  MAX_RETRY_AFTER_MS,
  Subjects,
  SubmitTicket,
  TaskChanged,
  type ErrorClass,
  type RunFinished,
  type SubmitTicketInput,
} from '@drover/contracts';
import {
  createTestEnv,
  finishReport,
  POLICY_DEFAULTS,
  registerRunner,
  startReport,
  waitFor,
  type LeaseRef,
  type TestEnv,
} from '@drover/testing';
import { TimerQueue } from '@drover/timers';
import { JITTER } from './retry-policy';
import { CreateTicket } from './use-cases/create-ticket';
import { FireTimer } from './use-cases/fire-timer';
import { RecordRunFinished } from './use-cases/record-run-finished';
import { StartRun } from './use-cases/start-run';
import { leaseReadyTasks, newestRun } from './test-support/lease-ready-tasks';

type TaskInput = NonNullable<SubmitTicketInput['tasks']>[number];

let env: TestEnv;
let timers: TimerQueue;
let startRun: StartRun;
let finished: RecordRunFinished;

const RUNNER = 'runner-1';
/** A short backoff, so that a wait of seconds can only come from the stated retry-after. */
const RETRY = { max_attempts: 3, backoff_seconds: 0.2 };

beforeAll(async () => {
  env = await createTestEnv();
  timers = TimerQueue.create({ redisUrl: env.redisUrl, prefix: env.redisPrefix });
  startRun = new StartRun(env.prisma, timers, { leaseHeartbeats: 3, timeoutGraceMs: 1_000 });
  finished = new RecordRunFinished(env.prisma, timers);
  // Retry timers fire from Redis as in the orchestrator: the wait is the real one.
  const fireTimer = new FireTimer(env.prisma, timers);
  timers.work(async (timer) => void (await fireTimer.execute(timer)), { concurrency: 4 });
  await registerRunner(env.prisma, RUNNER);
});

afterAll(async () => {
  await timers?.close();
  await env?.destroy();
});

async function create(key: string, extra: Partial<TaskInput> = {}): Promise<string> {
  const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
    SubmitTicket.parse({
      title: 'rate limits',
      tasks: [{ key, agent: 'claude-code', prompt: 'fix it', retry: RETRY, ...extra }],
    }),
  );
  if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
  return reply.ticketId;
}

const taskOf = (ticketId: string, key: string) =>
  env.prisma.task.findFirstOrThrow({ where: { ticketId, key } });

/** Leases the READY tasks and starts the current run of `key` on RUNNER. */
async function startTask(ticketId: string, key: string) {
  await leaseReadyTasks(env.prisma);
  const run = await newestRun(env.prisma, ticketId, key);
  expect((await startRun.execute(startReport(run, RUNNER))).ok).toBe(true);
  return run;
}

/** A runner's report of a run that ended `errorClass`, stating `retryAfterMs`. */
function refused(run: LeaseRef, errorClass: ErrorClass, retryAfterMs: number | null) {
  const report: RunFinished = {
    ...finishReport(run, 'FAILED', RUNNER),
    errorClass,
    errorMessage: 'claude-code (iteration 1) exited with 1: its provider refused',
    result: { rateLimit: { retryAfterMs } },
    retryAfterMs,
  };
  return finished.execute(report);
}

async function retryEvent(taskId: string) {
  const rows = await env.prisma.event.findMany({
    where: { subject: Subjects.taskChanged },
    orderBy: { id: 'asc' },
  });
  return rows
    .map((row) => TaskChanged.parse(row.data))
    .find((event) => event.taskId === taskId && event.status === 'RETRY_WAIT');
}

describe('RATE_LIMITED runs', () => {
  it('retry as a new attempt no sooner than the stated retry-after, and a success completes the task', async () => {
    const ticketId = await create('limited');
    const first = await startTask(ticketId, 'limited');
    const endedAt = Date.now();
    expect(await refused(first, 'RATE_LIMITED', 3_000)).toBe(true);

    const waiting = await taskOf(ticketId, 'limited');
    expect(waiting.status).toBe('RETRY_WAIT');
    expect((waiting.retryAt as Date).getTime() - endedAt).toBeGreaterThanOrEqual(3_000);
    // The stream says why the retry waits that long.
    expect(await retryEvent(waiting.id)).toMatchObject({
      attempt: 1,
      retryAt: (waiting.retryAt as Date).toISOString(),
      retryAfterMs: 3_000,
    });
    const run = await env.prisma.run.findUniqueOrThrow({ where: { id: first.id } });
    expect([run.status, run.errorClass, run.result]).toEqual([
      'FAILED',
      'RATE_LIMITED',
      { rateLimit: { retryAfterMs: 3_000 } },
    ]);

    // The real timer makes it READY again, not before the provider's 3 s have passed.
    const ready = await waitFor(async () => {
      const task = await taskOf(ticketId, 'limited');
      return task.status === 'READY' ? task : undefined;
    }, 'the task READY again');
    expect((ready.readyAt as Date).getTime() - endedAt).toBeGreaterThanOrEqual(3_000);

    const second = await startTask(ticketId, 'limited');
    expect(second.attempt).toBe(2);
    expect(second.id).not.toBe(first.id);
    expect(await finished.execute(finishReport(second, 'SUCCEEDED', RUNNER))).toBe(true);
    expect((await taskOf(ticketId, 'limited')).status).toBe('SUCCEEDED');
    const ticket = await env.prisma.ticket.findUniqueOrThrow({ where: { id: ticketId } });
    expect(ticket.status).toBe('SUCCEEDED');
  }, 30_000);

  it('waits only its backoff when the provider stated no retry-after', async () => {
    const ticketId = await create('unstated');
    const run = await startTask(ticketId, 'unstated');
    const endedAt = Date.now();
    expect(await refused(run, 'RATE_LIMITED', null)).toBe(true);
    const waiting = await taskOf(ticketId, 'unstated');
    expect(waiting.status).toBe('RETRY_WAIT');
    expect((waiting.retryAt as Date).getTime() - endedAt).toBeLessThanOrEqual(
      200 * (1 + JITTER) + 200,
    );
    expect(await retryEvent(waiting.id)).not.toHaveProperty('retryAfterMs');
  });

  it('clamps a stated wait to MAX_RETRY_AFTER_MS: the figure comes out of a sandbox', async () => {
    const ticketId = await create('greedy');
    const run = await startTask(ticketId, 'greedy');
    const endedAt = Date.now();
    expect(await refused(run, 'RATE_LIMITED', 10 * 3_600_000)).toBe(true);
    const waiting = await taskOf(ticketId, 'greedy');
    const wait = (waiting.retryAt as Date).getTime() - endedAt;
    expect(wait).toBeGreaterThanOrEqual(MAX_RETRY_AFTER_MS);
    expect(wait).toBeLessThanOrEqual(MAX_RETRY_AFTER_MS + 1_000);
    expect(await retryEvent(waiting.id)).toMatchObject({ retryAfterMs: MAX_RETRY_AFTER_MS });
  });

  it('ignores a retry-after on a run that failed for another class', async () => {
    const ticketId = await create('infra');
    const run = await startTask(ticketId, 'infra');
    const endedAt = Date.now();
    expect(await refused(run, 'INFRA', 60_000)).toBe(true);
    const waiting = await taskOf(ticketId, 'infra');
    expect(waiting.status).toBe('RETRY_WAIT');
    expect((waiting.retryAt as Date).getTime() - endedAt).toBeLessThan(1_000);
  });
});
