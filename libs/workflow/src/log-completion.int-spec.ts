import {
  Subjects,
  SubmitTicket,
  TaskChanged,
  type LogLine,
  type RunFinished,
} from '@drover/contracts';
import {
  createTestEnv,
  finishReport,
  POLICY_DEFAULTS,
  registerRunner,
  startReport,
  type TestEnv,
} from '@drover/testing';
import { TimerQueue } from '@drover/timers';
import { LOG_WAIT_MS } from './log-completion';
import { leaseReadyTasks, newestRun } from './test-support/lease-ready-tasks';
import { AppendRunLog } from './use-cases/append-run-log';
import { CreateTicket } from './use-cases/create-ticket';
import { FireTimer } from './use-cases/fire-timer';
import { Reconciler } from './use-cases/reconciler';
import { RecordRunFinished } from './use-cases/record-run-finished';
import { StartRun } from './use-cases/start-run';
import { TicketQueries } from './ticket-queries';

const RUNNER = 'runner-logs';

let env: TestEnv;
let timers: TimerQueue;

beforeAll(async () => {
  env = await createTestEnv();
  timers = TimerQueue.create({ redisUrl: env.redisUrl, prefix: env.redisPrefix });
  await registerRunner(env.prisma, RUNNER);
});

afterAll(async () => {
  await timers?.close();
  await env?.destroy();
});

interface Lease {
  id: string;
  leaseToken: string;
  taskId: string;
  ticketId: string;
}

/** A one-task ticket whose run is started on RUNNER. */
async function startedRun(): Promise<Lease> {
  const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
    SubmitTicket.parse({ title: 'logs', tasks: [{ key: 'seq', steps: [{ run: 'seq 1 3000' }] }] }),
  );
  if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
  await leaseReadyTasks(env.prisma);
  const run = await newestRun(env.prisma, reply.ticketId, 'seq');
  const options = { leaseHeartbeats: 3, timeoutGraceMs: 1000 };
  const started = await new StartRun(env.prisma, timers, options).execute(startReport(run, RUNNER));
  expect(started.ok).toBe(true);
  return run;
}

/** Lines `first` .. `first + count - 1` of the run, as its runner sends them. */
function batch(run: Lease, first: number, count: number) {
  const ts = new Date().toISOString();
  const lines: LogLine[] = Array.from({ length: count }, (_, i) => ({
    stream: 'stdout',
    text: String(first + i + 1),
    ts,
  }));
  return { runId: run.id, leaseToken: run.leaseToken, runnerId: RUNNER, firstLine: first, lines };
}

function appendLines(run: Lease, first: number, count: number): Promise<boolean> {
  return new AppendRunLog(env.prisma, timers).execute(batch(run, first, count));
}

function finished(run: Lease, logLines: number): RunFinished {
  return { ...finishReport(run, 'SUCCEEDED', RUNNER), logLines };
}

async function state(run: Lease) {
  const row = await env.prisma.run.findUniqueOrThrow({
    where: { id: run.id },
    include: { task: { select: { status: true } } },
  });
  const stored = await env.prisma.logChunk.aggregate({
    where: { runId: run.id },
    _sum: { lineCount: true },
  });
  return {
    task: row.task.status,
    run: row.status,
    lost: row.lostLogLines,
    held: row.pendingFinish !== null,
    stored: stored._sum.lineCount ?? 0,
  };
}

/** The run's log and task events in the order the event log gives them. */
async function eventOrder(run: Lease): Promise<string[]> {
  const rows = await env.prisma.event.findMany({
    where: {
      ticketId: run.ticketId,
      subject: { in: [Subjects.logAppended, Subjects.taskChanged] },
    },
    orderBy: { id: 'asc' },
  });
  return rows.map((r) =>
    r.subject === Subjects.logAppended
      ? `log@${(r.data as { firstLine: number }).firstLine}`
      : `task=${TaskChanged.parse(r.data).status}`,
  );
}

describe('a run ends only once its log is complete', () => {
  it('holds a finish report until the last line is stored, then ends the task after it', async () => {
    const run = await startedRun();
    expect(await appendLines(run, 0, 1000)).toBe(true);
    expect(await new RecordRunFinished(env.prisma, timers).execute(finished(run, 3000))).toBe(true);
    expect(await state(run)).toEqual({
      task: 'RUNNING',
      run: 'RUNNING',
      lost: null,
      held: true,
      stored: 1000,
    });
    // Batches arrive out of order: the task stays open until every line is in.
    expect(await appendLines(run, 2000, 1000)).toBe(true);
    expect((await state(run)).task).toBe('RUNNING');
    expect(await appendLines(run, 1000, 1000)).toBe(true);
    expect(await state(run)).toEqual({
      task: 'SUCCEEDED',
      run: 'SUCCEEDED',
      lost: null,
      held: false,
      stored: 3000,
    });
    expect((await eventOrder(run)).slice(-3)).toEqual(['log@2000', 'log@1000', 'task=SUCCEEDED']);
  });

  it('ends a report whose log is already complete at once', async () => {
    const run = await startedRun();
    expect(await appendLines(run, 0, 3000)).toBe(true);
    expect(await new RecordRunFinished(env.prisma, timers).execute(finished(run, 3000))).toBe(true);
    expect(await state(run)).toMatchObject({ task: 'SUCCEEDED', held: false, lost: null });
  });

  it('ends the run when the wait for its log runs out, counting the lines lost', async () => {
    const run = await startedRun();
    expect(await appendLines(run, 0, 1000)).toBe(true);
    const before = Date.now();
    expect(await new RecordRunFinished(env.prisma, timers).execute(finished(run, 3000))).toBe(true);
    const timer = await waitingTimer(run);
    expect(new Date(timer.dueAt).getTime()).toBeGreaterThanOrEqual(before + LOG_WAIT_MS);
    expect(await new FireTimer(env.prisma, timers).execute(timer)).toBe(true);
    expect(await state(run)).toEqual({
      task: 'SUCCEEDED',
      run: 'SUCCEEDED',
      lost: 2000,
      held: false,
      stored: 1000,
    });
    // Lines that come after all are kept and no longer counted lost.
    expect(await appendLines(run, 1000, 500)).toBe(true);
    expect(await state(run)).toMatchObject({ lost: 1500, stored: 1500 });
  });

  it('ends a run whose runner died after its report as reported, counting the lines lost', async () => {
    const run = await startedRun();
    expect(await appendLines(run, 0, 1000)).toBe(true);
    expect(await new RecordRunFinished(env.prisma, timers).execute(finished(run, 3000))).toBe(true);
    expect(await expireLease(run)).toBe(1);
    expect(await state(run)).toEqual({
      task: 'SUCCEEDED',
      run: 'SUCCEEDED',
      lost: 2000,
      held: false,
      stored: 1000,
    });
  });

  it('counts the lines a runner lost when it died without a report (RUNNER_LOST)', async () => {
    const run = await startedRun();
    expect(await appendLines(run, 0, 500)).toBe(true);
    // Lines 500 .. 1499 were sent but never stored; 1500 .. 1999 were.
    expect(await appendLines(run, 1500, 500)).toBe(true);
    expect(await expireLease(run)).toBe(1);
    const row = await env.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
    expect({ errorClass: row.errorClass, lost: row.lostLogLines }).toEqual({
      errorClass: 'RUNNER_LOST',
      lost: 1000,
    });
    // Paging the log steps over the lost lines.
    const queries = new TicketQueries(env.prisma);
    const numbers: number[] = [];
    for (let after: number | null = 0, pages = 0; after !== null && pages < 10; pages++) {
      const page = await queries.getRunLogs(row.projectId, run.id, after, 1000);
      numbers.push(...(page?.lines ?? []).map((l) => l.n));
      after = page?.nextAfter ?? null;
    }
    expect(numbers).toEqual([...range(0, 500), ...range(1500, 500)]);
  });
});

function range(from: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => from + i);
}

/** The `log` timer the held report set, as BullMQ holds it. */
async function waitingTimer(run: Lease) {
  const held = await env.prisma.run.findUniqueOrThrow({ where: { id: run.id } });
  const due = (held.pendingFinish as { waitUntil: string } | null)?.waitUntil;
  expect(due).toBeDefined();
  const timer = { kind: 'log' as const, id: run.id, attempt: held.attempt, dueAt: due ?? '' };
  // Set by the report (not missing from the queue).
  expect(await timers.missing([timer])).toEqual([]);
  return timer;
}

/** The run's runner goes silent: its lease lapses and the reconciler ends the run. */
async function expireLease(run: Lease): Promise<number> {
  await env.prisma.run.update({
    where: { id: run.id },
    data: { leaseExpiresAt: new Date(Date.now() - 1000) },
  });
  await env.prisma.runner.update({ where: { id: RUNNER }, data: { status: 'OFFLINE' } });
  try {
    const reconciler = new Reconciler(env.prisma, new FireTimer(env.prisma, timers), timers, {
      startDeadlineMs: 60_000,
      timerGraceMs: 1_000,
      batch: 100,
      leaseHeartbeats: 3,
    });
    return await reconciler.expireLeases();
  } finally {
    await env.prisma.runner.update({ where: { id: RUNNER }, data: { status: 'ONLINE' } });
  }
}
