import { randomUUID } from 'node:crypto';
import {
  RunStopRequested,
  Subjects,
  SubmitTicket,
  TaskChanged,
  type ErrorClass,
  type RunFinished,
  type SubmitTicketInput,
  type TaskStatus,
  type TimerJob,
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
import { DEFAULT_PROJECT } from './access/projects';
import { JITTER } from './retry-policy';
import { CancelWork } from './use-cases/cancel-work';
import { CreateTicket } from './use-cases/create-ticket';
import { FireTimer } from './use-cases/fire-timer';
import { Reconciler } from './use-cases/reconciler';
import { RecordRunFinished } from './use-cases/record-run-finished';
import { StartRun } from './use-cases/start-run';
import { leaseReadyTasks, newestRun } from './test-support/lease-ready-tasks';

type TaskInput = NonNullable<SubmitTicketInput['tasks']>[number];

let env: TestEnv;
let timers: TimerQueue;
let startRun: StartRun;
let finished: RecordRunFinished;
let fireTimer: FireTimer;
let cancel: CancelWork;
let reconciler: Reconciler;

const RUNNER = 'runner-1';

beforeAll(async () => {
  env = await createTestEnv();
  timers = TimerQueue.create({ redisUrl: env.redisUrl, prefix: env.redisPrefix });
  startRun = new StartRun(env.prisma, timers, { leaseHeartbeats: 3, timeoutGraceMs: 1_000 });
  finished = new RecordRunFinished(env.prisma, timers);
  fireTimer = new FireTimer(env.prisma, timers);
  cancel = new CancelWork(env.prisma, timers);
  reconciler = new Reconciler(env.prisma, fireTimer, timers, {
    startDeadlineMs: 60_000,
    timerGraceMs: 1_000,
    batch: 100,
    leaseHeartbeats: 3,
  });
  await registerRunner(env.prisma, RUNNER);
});

afterAll(async () => {
  await timers?.close();
  await env?.destroy();
});

function task(key: string, dependsOn: string[] = [], extra: Partial<TaskInput> = {}): TaskInput {
  return { key, depends_on: dependsOn, steps: [{ run: `echo ${key}` }], ...extra };
}

async function create(tasks: TaskInput[]): Promise<string> {
  const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
    SubmitTicket.parse({ title: 'reliability', tasks }),
  );
  if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
  return reply.ticketId;
}

function lease(): Promise<number> {
  return leaseReadyTasks(env.prisma);
}

function runOf(ticketId: string, key: string) {
  return newestRun(env.prisma, ticketId, key);
}

async function taskOf(ticketId: string, key: string) {
  return env.prisma.task.findFirstOrThrow({ where: { ticketId, key } });
}

async function statuses(ticketId: string): Promise<Record<string, TaskStatus>> {
  const tasks = await env.prisma.task.findMany({ where: { ticketId } });
  return Object.fromEntries(tasks.map((t) => [t.key, t.status]));
}

/** Leases the READY tasks and starts the current run of `key` on RUNNER. */
async function startTask(ticketId: string, key: string) {
  await lease();
  const run = await runOf(ticketId, key);
  const reply = await startRun.execute(startReport(run, RUNNER));
  expect(reply.ok).toBe(true);
  return run;
}

function failed(run: LeaseRef, errorClass: ErrorClass, message = `failed: ${errorClass}`) {
  const report: RunFinished = {
    ...finishReport(run, 'FAILED', RUNNER),
    errorClass,
    errorMessage: message,
  };
  return finished.execute(report);
}

async function eventsOf<T>(subject: string, schema: { parse(v: unknown): T }): Promise<T[]> {
  const rows = await env.prisma.event.findMany({ where: { subject }, orderBy: { id: 'asc' } });
  return rows.map((r) => schema.parse(r.data));
}

describe('retries', () => {
  it('puts a retryable failure in RETRY_WAIT for a backoff within bounds, then READY on its timer', async () => {
    const ticketId = await create([task('flaky', [], { retry: { max_attempts: 3 } })]);
    const run = await startTask(ticketId, 'flaky');
    const before = Date.now();

    expect(await failed(run, 'INFRA')).toBe(true);

    const waiting = await taskOf(ticketId, 'flaky');
    expect(waiting.status).toBe('RETRY_WAIT');
    const delay = (waiting.retryAt as Date).getTime() - before;
    // Attempt 1: base 1 s, jittered by up to 20 % either way.
    expect(delay).toBeGreaterThanOrEqual(1_000 * (1 - JITTER) - 50);
    expect(delay).toBeLessThanOrEqual(1_000 * (1 + JITTER) + 200);
    const timer: TimerJob = {
      kind: 'retry',
      id: waiting.id,
      attempt: 1,
      dueAt: (waiting.retryAt as Date).toISOString(),
    };
    // The delayed job is in Redis under its deterministic id.
    expect(await timers.missing([timer])).toEqual([]);
    const event = (await eventsOf(Subjects.taskChanged, TaskChanged)).find(
      (e) => e.taskId === waiting.id && e.status === 'RETRY_WAIT',
    );
    expect(event).toMatchObject({ attempt: 1, retryAt: timer.dueAt, previous: 'RUNNING' });

    expect(await fireTimer.execute(timer)).toBe(true);
    expect((await taskOf(ticketId, 'flaky')).status).toBe('READY');
    // The same timer again (a duplicate job, or the reconciler too) changes nothing.
    const events = await env.prisma.event.count();
    expect(await fireTimer.execute(timer)).toBe(false);
    expect(await env.prisma.event.count()).toBe(events);
  });

  it('grows the backoff by the factor, and fails the task when attempts run out', async () => {
    const retry = { max_attempts: 3, backoff_seconds: 0.2, factor: 3, max_backoff_seconds: 0.5 };
    const ticketId = await create([task('doomed', [], { retry }), task('after', ['doomed'])]);
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      const run = await startTask(ticketId, 'doomed');
      expect(run.attempt).toBe(attempt);
      const before = Date.now();
      expect(await failed(run, 'RUNNER_LOST', `lost on attempt ${attempt}`)).toBe(true);
      const t = await taskOf(ticketId, 'doomed');
      if (attempt < 3) {
        expect(t.status).toBe('RETRY_WAIT');
        delays.push((t.retryAt as Date).getTime() - before);
        await fireTimer.execute({
          kind: 'retry',
          id: t.id,
          attempt,
          dueAt: (t.retryAt as Date).toISOString(),
        });
      } else {
        expect(t.status).toBe('FAILED');
      }
    }
    // 200 ms, then 600 ms capped at 500 ms; each within the jitter.
    expect(delays[0]).toBeGreaterThanOrEqual(200 * (1 - JITTER) - 50);
    expect(delays[0]).toBeLessThanOrEqual(200 * (1 + JITTER) + 200);
    expect(delays[1]).toBeGreaterThanOrEqual(500 * (1 - JITTER) - 50);
    expect(delays[1]).toBeLessThanOrEqual(500 * (1 + JITTER) + 200);
    expect(await statuses(ticketId)).toEqual({ doomed: 'FAILED', after: 'BLOCKED' });
    // Every attempt is a run with its class and message.
    const runs = await env.prisma.run.findMany({
      where: { task: { ticketId, key: 'doomed' } },
      orderBy: { attempt: 'asc' },
    });
    expect(runs.map((r) => [r.attempt, r.status, r.errorClass, r.errorMessage])).toEqual([
      [1, 'FAILED', 'RUNNER_LOST', 'lost on attempt 1'],
      [2, 'FAILED', 'RUNNER_LOST', 'lost on attempt 2'],
      [3, 'FAILED', 'RUNNER_LOST', 'lost on attempt 3'],
    ]);
    expect((await env.prisma.ticket.findUniqueOrThrow({ where: { id: ticketId } })).status).toBe(
      'FAILED',
    );
  });

  it('fails a task at once on a permanent class, and honours a per-task retry_on', async () => {
    const ticketId = await create([
      task('agent-bug', [], { retry: { max_attempts: 5 } }),
      task('picky', [], { retry: { max_attempts: 5, retry_on: ['AGENT_FAILED'] } }),
    ]);
    await lease();
    for (const key of ['agent-bug', 'picky']) {
      const run = await runOf(ticketId, key);
      expect((await startRun.execute(startReport(run, RUNNER))).ok).toBe(true);
      expect(await failed(run, 'AGENT_FAILED')).toBe(true);
    }
    expect(await statuses(ticketId)).toEqual({ 'agent-bug': 'FAILED', picky: 'RETRY_WAIT' });

    // retry_on replaces the default list: INFRA is not retried for this task.
    const picky = await taskOf(ticketId, 'picky');
    await fireTimer.execute({
      kind: 'retry',
      id: picky.id,
      attempt: 1,
      dueAt: new Date().toISOString(),
    });
    const second = await startTask(ticketId, 'picky');
    expect(await failed(second, 'INFRA')).toBe(true);
    expect((await taskOf(ticketId, 'picky')).status).toBe('FAILED');
  });

  it('makes a run its runner gave back READY at once, without a timer', async () => {
    const ticketId = await create([task('released', [], { retry: { max_attempts: 2 } })]);
    const run = await startTask(ticketId, 'released');
    const report: RunFinished = { ...finishReport(run, 'FAILED', RUNNER), outcome: 'RELEASED' };

    expect(await finished.execute(report)).toBe(true);

    const t = await taskOf(ticketId, 'released');
    expect(t).toMatchObject({ status: 'READY', retryAt: null });
    expect(await runOf(ticketId, 'released')).toMatchObject({
      status: 'FAILED',
      errorClass: 'RUNNER_LOST',
    });
  });
});

describe('fencing', () => {
  it('rejects a report with a stale lease token and changes nothing', async () => {
    const ticketId = await create([task('fenced', [], { retry: { max_attempts: 2 } })]);
    const first = await startTask(ticketId, 'fenced');
    // The runner goes silent; its lease expires and the run is given up as lost.
    await env.prisma.run.update({
      where: { id: first.id },
      data: { leaseExpiresAt: new Date(Date.now() - 1) },
    });
    expect(await reconciler.expireLeases()).toBe(1);
    const t = await taskOf(ticketId, 'fenced');
    expect(t.status).toBe('RETRY_WAIT');
    await fireTimer.execute({
      kind: 'retry',
      id: t.id,
      attempt: 1,
      dueAt: new Date().toISOString(),
    });
    const second = await startTask(ticketId, 'fenced');
    const snapshot = {
      runs: await env.prisma.run.findMany({ where: { taskId: t.id }, orderBy: { attempt: 'asc' } }),
      task: await taskOf(ticketId, 'fenced'),
      events: await env.prisma.event.count(),
    };

    // The old runner comes back and reports success for its (first) run.
    expect(await finished.execute(finishReport(first, 'SUCCEEDED', RUNNER))).toBe(false);
    // Or tries its old token on the new run.
    expect(
      await finished.execute(
        finishReport({ id: second.id, leaseToken: first.leaseToken }, 'SUCCEEDED', RUNNER),
      ),
    ).toBe(false);
    expect(await startRun.execute(startReport(first, RUNNER))).toMatchObject({ ok: false });

    expect({
      runs: await env.prisma.run.findMany({ where: { taskId: t.id }, orderBy: { attempt: 'asc' } }),
      task: await taskOf(ticketId, 'fenced'),
      events: await env.prisma.event.count(),
    }).toEqual(snapshot);
    expect(snapshot.runs.map((r) => [r.attempt, r.status, r.errorClass])).toEqual([
      [1, 'FAILED', 'RUNNER_LOST'],
      [2, 'RUNNING', null],
    ]);
    // A stop request went to the runner that lost the lease.
    const stops = await eventsOf(Subjects.runStopRequested, RunStopRequested);
    expect(stops).toContainEqual(
      expect.objectContaining({ runId: first.id, runnerId: RUNNER, reason: 'LEASE_LOST' }),
    );
  });

  it('grants a start only to an ONLINE runner holding the current token', async () => {
    const ticketId = await create([task('guarded')]);
    await lease();
    const run = await runOf(ticketId, 'guarded');
    await registerRunner(env.prisma, 'stale-runner');
    await env.prisma.runner.update({ where: { id: 'stale-runner' }, data: { status: 'STALE' } });

    expect(await startRun.execute(startReport(run, 'stale-runner'))).toEqual({
      ok: false,
      reason: 'runner stale-runner is not registered as ONLINE',
    });
    expect(await startRun.execute(startReport(run, 'nobody'))).toMatchObject({ ok: false });
    expect((await runOf(ticketId, 'guarded')).status).toBe('DISPATCHED');

    expect(await startRun.execute(startReport(run, RUNNER))).toMatchObject({ ok: true });
    // Another runner holding the same token (a redelivered work message) is refused.
    await registerRunner(env.prisma, 'runner-2');
    expect(await startRun.execute(startReport(run, 'runner-2'))).toEqual({
      ok: false,
      reason: `the run is RUNNING on ${RUNNER}`,
    });
  });
});

describe('timeouts', () => {
  it('times a run out when its deadline timer fires, stops its runner and retries', async () => {
    const ticketId = await create([task('slow', [], { retry: { max_attempts: 2 } })]);
    const run = await startTask(ticketId, 'slow');
    const started = await runOf(ticketId, 'slow');
    // Deadline: start + the task's timeout (60 s in these defaults) + the 1 s grace.
    const budget = (started.deadlineAt as Date).getTime() - (started.startedAt as Date).getTime();
    expect(budget).toBeGreaterThanOrEqual(61_000 - 100);
    expect(budget).toBeLessThanOrEqual(61_000 + 1_000);
    const timer: TimerJob = {
      kind: 'timeout',
      id: run.id,
      attempt: 1,
      dueAt: (started.deadlineAt as Date).toISOString(),
    };
    expect(await timers.missing([timer])).toEqual([]);

    expect(await fireTimer.execute(timer)).toBe(true);

    expect(await runOf(ticketId, 'slow')).toMatchObject({
      attempt: 1,
      status: 'TIMED_OUT',
      errorClass: 'TIMEOUT',
    });
    expect((await taskOf(ticketId, 'slow')).status).toBe('RETRY_WAIT');
    const stops = await eventsOf(Subjects.runStopRequested, RunStopRequested);
    expect(stops).toContainEqual(
      expect.objectContaining({ runId: run.id, runnerId: RUNNER, reason: 'TIMEOUT' }),
    );
    // The runner's own late report changes nothing, nor does the timer again.
    expect(await finished.execute(finishReport(run, 'SUCCEEDED', RUNNER))).toBe(false);
    expect(await fireTimer.execute(timer)).toBe(false);
  });
});

describe(CancelWork.name, () => {
  it('cancels every open task of a ticket: waiting ones never start, the running one is stopped', async () => {
    const ticketId = await create([
      task('running', [], { retry: { max_attempts: 5, retry_on: ['CANCELLED', 'INFRA'] } }),
      task('ready'),
      task('pending', ['running']),
    ]);
    await lease();
    const run = await runOf(ticketId, 'running');
    expect((await startRun.execute(startReport(run, RUNNER))).ok).toBe(true);
    // 'ready' is DISPATCHED by lease(); put one back in READY to cover that state too.
    await env.prisma.task.updateMany({
      where: { ticketId, key: 'ready' },
      data: { status: 'READY' },
    });

    const reply = await cancel.execute({
      target: 'ticket',
      id: ticketId,
      projectId: DEFAULT_PROJECT.id,
    });

    expect(reply.ok).toBe(true);
    expect(await statuses(ticketId)).toEqual({
      running: 'CANCELLED',
      ready: 'CANCELLED',
      pending: 'CANCELLED',
    });
    expect(await runOf(ticketId, 'running')).toMatchObject({
      status: 'CANCELLED',
      errorClass: 'CANCELLED',
    });
    const ticket = await env.prisma.ticket.findUniqueOrThrow({ where: { id: ticketId } });
    expect(ticket).toMatchObject({ status: 'CANCELLED', openTasks: 0 });
    const stops = await eventsOf(Subjects.runStopRequested, RunStopRequested);
    expect(stops).toContainEqual(expect.objectContaining({ runId: run.id, reason: 'CANCELLED' }));
    // Never retried, even with CANCELLED in retry_on; the runner's late report is refused.
    expect(await finished.execute(finishReport(run, 'SUCCEEDED', RUNNER))).toBe(false);
    expect(await env.prisma.run.count({ where: { task: { ticketId } } })).toBe(2);

    // Cancelling again is answered clearly and changes nothing.
    const events = await env.prisma.event.count();
    expect(
      await cancel.execute({ target: 'ticket', id: ticketId, projectId: DEFAULT_PROJECT.id }),
    ).toEqual({
      ok: false,
      status: 409,
      error: {
        code: 'ALREADY_FINAL',
        message: `ticket ${ticketId} is already CANCELLED; nothing was changed`,
      },
    });
    expect(await env.prisma.event.count()).toBe(events);
  });

  it('cancels one task and blocks its dependents; a finished task is refused', async () => {
    const ticketId = await create([
      task('done'),
      task('victim', ['done']),
      task('child', ['victim']),
      task('grandchild', ['child']),
      task('sibling', ['done']),
    ]);
    const done = await startTask(ticketId, 'done');
    expect(await finished.execute(finishReport(done, 'SUCCEEDED', RUNNER))).toBe(true);
    const victim = await taskOf(ticketId, 'victim');
    expect(victim.status).toBe('READY');

    const reply = await cancel.execute({
      target: 'task',
      id: victim.id,
      projectId: DEFAULT_PROJECT.id,
    });

    expect(reply).toMatchObject({
      ok: true,
      cancelled: [{ id: victim.id, key: 'victim', previous: 'READY' }],
    });
    if (!reply.ok) throw new Error('unreachable');
    expect(reply.blocked.map((b) => b.key).sort()).toEqual(['child', 'grandchild']);
    expect(await statuses(ticketId)).toEqual({
      done: 'SUCCEEDED',
      victim: 'CANCELLED',
      child: 'BLOCKED',
      grandchild: 'BLOCKED',
      sibling: 'READY',
    });
    const doneTask = await taskOf(ticketId, 'done');
    expect(
      await cancel.execute({ target: 'task', id: doneTask.id, projectId: DEFAULT_PROJECT.id }),
    ).toMatchObject({
      ok: false,
      status: 409,
      error: { message: `task ${doneTask.id} is already SUCCEEDED; nothing was changed` },
    });
    expect(
      await cancel.execute({ target: 'task', id: randomUUID(), projectId: DEFAULT_PROJECT.id }),
    ).toMatchObject({
      ok: false,
      status: 404,
    });
  });
});

describe(Reconciler.name, () => {
  it('sends the work of a run never started again, and fires overdue timers itself', async () => {
    // Only this test's runs: earlier tests left runs DISPATCHED on purpose.
    await env.prisma.$executeRaw`TRUNCATE ticket, event CASCADE`; // and all under the tickets
    const quick = new Reconciler(env.prisma, fireTimer, timers, {
      startDeadlineMs: 100,
      timerGraceMs: 0,
      batch: 100,
      leaseHeartbeats: 3,
    });
    const ticketId = await create([
      task('unstarted'),
      task('waiting', [], { retry: { max_attempts: 2 } }),
      task('overdue', [], { retry: { max_attempts: 2 } }),
    ]);
    await lease();
    const waitingRun = await runOf(ticketId, 'waiting');
    const overdueRun = await runOf(ticketId, 'overdue');
    for (const run of [waitingRun, overdueRun]) {
      expect((await startRun.execute(startReport(run, RUNNER))).ok).toBe(true);
    }
    expect(await failed(waitingRun, 'INFRA')).toBe(true);
    // Redis lost the retry timer; the deadline of 'overdue' passed and its timer was lost too.
    await env.prisma.run.update({
      where: { id: overdueRun.id },
      data: { deadlineAt: new Date(Date.now() - 1_000) },
    });
    const waiting = await taskOf(ticketId, 'waiting');
    const retryTimer: TimerJob = {
      kind: 'retry',
      id: waiting.id,
      attempt: 1,
      dueAt: (waiting.retryAt as Date).toISOString(),
    };
    await dropTimers();
    expect(await timers.missing([retryTimer])).toEqual([retryTimer]);
    const unstarted = await runOf(ticketId, 'unstarted');
    await new Promise((r) => setTimeout(r, 150));

    const report = await quick.pass();

    expect(report.redispatched).toBe(1);
    const work = await env.prisma.event.findMany({
      where: { subject: Subjects.runDispatched, ticketId },
    });
    expect(work.filter((w) => (w.data as { runId: string }).runId === unstarted.id)).toHaveLength(
      1,
    );
    expect((await runOf(ticketId, 'overdue')).status).toBe('TIMED_OUT');
    expect((await taskOf(ticketId, 'overdue')).status).toBe('RETRY_WAIT');
    // The retry timer is back in Redis (unless it was already overdue and fired).
    const now = await taskOf(ticketId, 'waiting');
    if (now.status === 'RETRY_WAIT') expect(await timers.missing([retryTimer])).toEqual([]);
    else expect(now.status).toBe('READY');
    // It waits for its deadline again before sending the work a second time.
    expect((await quick.pass()).redispatched).toBe(0);
    await waitFor(
      async () => (await quick.pass()).redispatched === 1,
      'a second redispatch',
      3_000,
    );
  });
});

/** Empties this test's slice of Redis, as a Redis restarted without its data would be. */
async function dropTimers(): Promise<void> {
  const { default: Redis } = await import('ioredis');
  const redis = new Redis(env.redisUrl);
  try {
    const keys = await redis.keys(`${env.redisPrefix}:*`);
    if (keys.length) await redis.del(...keys);
  } finally {
    redis.disconnect();
  }
}
