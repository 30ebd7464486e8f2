import {
  RunLogAppended,
  SubmitTicket,
  Subjects,
  TaskChanged,
  TicketChanged,
  type SubmitTicketInput,
  type TaskStatus,
} from '@drover/contracts';
import { createPrismaClient, type PrismaClient } from '@drover/db';
import {
  createTestEnv,
  finishReport,
  POLICY_DEFAULTS,
  registerRunner,
  startReport,
  type TestEnv,
} from '@drover/testing';
import { TimerQueue } from '@drover/timers';
import { AppendRunLog } from './use-cases/append-run-log';
import { CreateTicket } from './use-cases/create-ticket';
import { RecordRunFinished } from './use-cases/record-run-finished';
import { StartRun } from './use-cases/start-run';
import { leaseReadyTasks, newestRun } from './test-support/lease-ready-tasks';

type TaskSpecInput = NonNullable<SubmitTicketInput['tasks']>[number];
interface Lease {
  id: string;
  leaseToken: string;
}

let env: TestEnv;
let timers: TimerQueue;

beforeAll(async () => {
  env = await createTestEnv();
  timers = TimerQueue.create({ redisUrl: env.redisUrl, prefix: env.redisPrefix });
  await registerRunner(env.prisma, 'runner-1');
});

afterAll(async () => {
  await timers?.close();
  await env?.destroy();
});

function task(key: string, dependsOn: string[] = [], extra: Partial<TaskSpecInput> = {}) {
  return { key, depends_on: dependsOn, steps: [{ run: `echo ${key}` }], ...extra };
}

function submit(tasks: TaskSpecInput[], overrides: Partial<SubmitTicketInput> = {}) {
  return SubmitTicket.parse({ title: 'a ticket', tasks, ...overrides });
}

async function create(tasks: TaskSpecInput[], prisma: PrismaClient = env.prisma): Promise<string> {
  const reply = await new CreateTicket(prisma, POLICY_DEFAULTS).execute(submit(tasks));
  if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
  return reply.ticketId;
}

/** Counts of every table a ticket writes to. */
async function rowCounts() {
  const [tickets, tasks, edges, events] = await Promise.all([
    env.prisma.ticket.count(),
    env.prisma.task.count(),
    env.prisma.taskDependency.count(),
    env.prisma.event.count(),
  ]);
  return { tickets, tasks, edges, events };
}

async function statuses(ticketId: string): Promise<Record<string, TaskStatus>> {
  const tasks = await env.prisma.task.findMany({ where: { ticketId } });
  return Object.fromEntries(tasks.map((t) => [t.key, t.status]));
}

async function ticketStatus(ticketId: string): Promise<string> {
  return (await env.prisma.ticket.findUniqueOrThrow({ where: { id: ticketId } })).status;
}

function lease(): Promise<number> {
  return leaseReadyTasks(env.prisma);
}

function runOf(ticketId: string, key: string) {
  return newestRun(env.prisma, ticketId, key);
}

async function start(run: Lease, prisma: PrismaClient = env.prisma): Promise<boolean> {
  const options = { leaseHeartbeats: 3, timeoutGraceMs: 1000 };
  return (await new StartRun(prisma, timers, options).execute(startReport(run))).ok;
}

function finish(
  run: Lease,
  outcome: 'SUCCEEDED' | 'FAILED' = 'SUCCEEDED',
  prisma: PrismaClient = env.prisma,
): Promise<boolean> {
  return new RecordRunFinished(prisma, timers).execute(finishReport(run, outcome));
}

/** Starts and finishes the current run of `key`. */
async function complete(
  ticketId: string,
  key: string,
  outcome: 'SUCCEEDED' | 'FAILED' = 'SUCCEEDED',
) {
  const run = await runOf(ticketId, key);
  expect(await start(run)).toBe(true);
  expect(await finish(run, outcome)).toBe(true);
}

/** The task.changed events of a ticket, in insertion order. */
async function taskEvents(ticketId: string) {
  const rows = await env.prisma.event.findMany({
    where: { ticketId, subject: Subjects.taskChanged },
    orderBy: { id: 'asc' },
  });
  return rows.map((r) => TaskChanged.parse(r.data));
}

describe(CreateTicket.name, () => {
  it('writes the ticket, its tasks and edges, with roots READY and the rest PENDING', async () => {
    const input = submit(
      [
        task('a'),
        task('b', ['a']),
        task('c', ['a'], { priority: 7 }),
        task('d', ['b', 'c', 'b']),
        task('e'),
      ],
      { priority: 3 },
    );
    const before = await rowCounts();

    const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(input, 'corr-1');

    if (!reply.ok) throw new Error(`refused: ${JSON.stringify(reply.error)}`);
    expect(reply.taskCount).toBe(5);
    const ticket = await env.prisma.ticket.findUniqueOrThrow({ where: { id: reply.ticketId } });
    expect(ticket).toMatchObject({ status: 'PENDING', priority: 3, title: 'a ticket' });
    const tasks = await env.prisma.task.findMany({ where: { ticketId: ticket.id } });
    const byKey = new Map(tasks.map((t) => [t.key, t]));
    expect(await statuses(ticket.id)).toEqual({
      a: 'READY',
      b: 'PENDING',
      c: 'PENDING',
      d: 'PENDING',
      e: 'READY',
    });
    for (const t of tasks) {
      expect(t.readyAt === null).toBe(t.status === 'PENDING');
      expect(t.provider).toBe('default');
      expect(t.spec).toEqual({
        steps: [{ run: `echo ${t.key}` }],
        acceptance_commands: [],
        max_iterations: 1,
        network: 'none',
      });
    }
    expect(byKey.get('c')?.priority).toBe(7);
    expect(byKey.get('a')?.priority).toBe(3);

    const edges = await env.prisma.taskDependency.findMany({ where: { ticketId: ticket.id } });
    const keyOf = (id: string) => tasks.find((t) => t.id === id)?.key;
    expect(edges.map((e) => `${keyOf(e.dependsOnId)}->${keyOf(e.taskId)}`).sort()).toEqual([
      'a->b',
      'a->c',
      'b->d',
      'c->d',
    ]);

    const events = await env.prisma.event.findMany({ where: { ticketId: ticket.id } });
    expect(events).toHaveLength(6);
    expect(events.every((e) => e.correlationId === 'corr-1' && !e.internal)).toBe(true);
    expect(await rowCounts()).toEqual({
      tickets: before.tickets + 1,
      tasks: before.tasks + 5,
      edges: before.edges + 4,
      events: before.events + 6,
    });
  });

  it('writes nothing at all when any insert of the ticket fails', async () => {
    const before = await rowCounts();
    // Make the last write of the transaction (the edges) fail, in this test's own database.
    await env.prisma.$executeRawUnsafe(`
      CREATE FUNCTION refuse_edges() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'edges refused by the test'; END $$`);
    await env.prisma.$executeRawUnsafe(`
      CREATE TRIGGER refuse_edges BEFORE INSERT ON task_dependency
      FOR EACH STATEMENT EXECUTE FUNCTION refuse_edges()`);
    try {
      await expect(
        new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
          submit([task('a'), task('b', ['a'])]),
        ),
      ).rejects.toThrow('edges refused by the test');
    } finally {
      await env.prisma.$executeRawUnsafe('DROP TRIGGER refuse_edges ON task_dependency');
      await env.prisma.$executeRawUnsafe('DROP FUNCTION refuse_edges()');
    }
    expect(await rowCounts()).toEqual(before);
  });

  it.each<[string, TaskSpecInput[], string[]]>([
    [
      'a cycle',
      [task('root'), task('a', ['root', 'c']), task('b', ['a']), task('c', ['b'])],
      ['a', 'b', 'c'],
    ],
    ['an unknown reference', [task('a'), task('b', ['a', 'ghost'])], ['b', 'ghost']],
    ['a duplicate key', [task('a'), task('dup'), task('dup', ['a'])], ['dup']],
  ])('refuses %s with 422, names the keys and writes nothing', async (_, tasks, keys) => {
    const before = await rowCounts();

    const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(submit(tasks));

    if (reply.ok) throw new Error('expected the graph to be refused');
    expect(reply.status).toBe(422);
    expect(reply.error.code).toBe('INVALID_GRAPH');
    const details = reply.error.details ?? [];
    expect(details.length).toBeGreaterThan(0);
    const text = details.map((d) => d.message).join('\n');
    for (const key of keys) expect(text).toMatch(new RegExp(`\\b${key}\\b`));
    expect(await rowCounts()).toEqual(before);
  });

  it('refuses an unknown project with 422 UNKNOWN_PROJECT and writes nothing', async () => {
    const before = await rowCounts();

    const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
      submit([task('a')], { project: 'no-such-project' }),
    );

    if (reply.ok) throw new Error('expected the project to be refused');
    expect(reply.status).toBe(422);
    expect(reply.error.code).toBe('UNKNOWN_PROJECT');
    expect(reply.error.message).toContain('no-such-project');
    expect(await rowCounts()).toEqual(before);
  });
});

describe(RecordRunFinished.name, () => {
  beforeEach(async () => {
    // The scheduler sees every ticket of the database: start each test without leftovers.
    await env.prisma.$executeRaw`TRUNCATE ticket, event CASCADE`; // and all under the tickets
  });

  it('applies a batch of reports in one transaction, each exactly once', async () => {
    const ticketId = await create([task('a'), task('b'), task('c', ['a', 'b'])]);
    expect(await lease()).toBe(2);
    const [a, b] = [await runOf(ticketId, 'a'), await runOf(ticketId, 'b')];

    const changed = await new RecordRunFinished(env.prisma, timers).executeMany([
      { report: finishReport(a) },
      { report: finishReport(b) },
      { report: finishReport(a) },
      { report: finishReport({ id: b.id, leaseToken: a.leaseToken }) },
    ]);

    // The duplicate and the report with another run's lease change nothing.
    expect(changed).toEqual([true, true, false, false]);
    expect(await statuses(ticketId)).toEqual({ a: 'SUCCEEDED', b: 'SUCCEEDED', c: 'READY' });
    const events = await taskEvents(ticketId);
    expect(events.filter((e) => e.key === 'c').map((e) => e.status)).toEqual(['PENDING', 'READY']);
  });

  it('releases the join of a diamond only when both of its branches succeeded', async () => {
    const ticketId = await create([
      task('a'),
      task('b', ['a']),
      task('c', ['a']),
      task('d', ['b', 'c']),
    ]);

    expect(await lease()).toBe(1);
    expect(await ticketStatus(ticketId)).toBe('RUNNING');
    await complete(ticketId, 'a');
    expect(await statuses(ticketId)).toMatchObject({ a: 'SUCCEEDED', b: 'READY', c: 'READY' });
    expect((await statuses(ticketId)).d).toBe('PENDING');

    expect(await lease()).toBe(2);
    await complete(ticketId, 'b');
    expect(await statuses(ticketId)).toMatchObject({
      b: 'SUCCEEDED',
      c: 'DISPATCHED',
      d: 'PENDING',
    });
    expect(await lease()).toBe(0);

    await complete(ticketId, 'c');
    expect((await statuses(ticketId)).d).toBe('READY');
    const released = (await taskEvents(ticketId)).filter(
      (e) => e.key === 'd' && e.status === 'READY',
    );
    expect(released).toHaveLength(1);

    expect(await lease()).toBe(1);
    expect(await ticketStatus(ticketId)).toBe('RUNNING');
    await complete(ticketId, 'd');
    const ticket = await env.prisma.ticket.findUniqueOrThrow({ where: { id: ticketId } });
    expect(ticket.status).toBe('SUCCEEDED');
    expect(ticket.finishedAt).not.toBeNull();
    const settled = await env.prisma.event.findMany({
      where: { ticketId, subject: Subjects.ticketChanged },
      orderBy: { id: 'asc' },
    });
    expect(settled.map((e) => TicketChanged.parse(e.data).status)).toEqual([
      'PENDING',
      'RUNNING',
      'SUCCEEDED',
    ]);
  });

  it('releases the join once when both branches finish at the same moment', async () => {
    const clients = [
      createPrismaClient(env.databaseUrl, 2),
      createPrismaClient(env.databaseUrl, 2),
    ];
    try {
      for (let round = 0; round < 5; round++) {
        const ticketId = await create([task('a'), task('b'), task('c', ['a', 'b'])]);
        expect(await lease()).toBe(2);
        const [a, b] = await Promise.all([runOf(ticketId, 'a'), runOf(ticketId, 'b')]);

        const results = await Promise.all([
          finish(a, 'SUCCEEDED', clients[0]),
          finish(b, 'SUCCEEDED', clients[1]),
        ]);

        expect(results).toEqual([true, true]);
        expect((await statuses(ticketId)).c).toBe('READY');
        const released = (await taskEvents(ticketId)).filter(
          (e) => e.key === 'c' && e.status === 'READY',
        );
        expect(released).toHaveLength(1);

        // Settle the ticket so the next round starts with nothing ready.
        expect(await lease()).toBe(1);
        await complete(ticketId, 'c');
        expect(await ticketStatus(ticketId)).toBe('SUCCEEDED');
      }
    } finally {
      await Promise.all(clients.map((c) => c.$disconnect()));
    }
  });

  it('blocks every transitive dependent of a failure and ends the ticket FAILED', async () => {
    const ticketId = await create([
      task('a'),
      task('b', ['a']),
      task('c', ['b']),
      task('d', ['c']),
      task('e', ['d']),
      task('side'),
    ]);
    expect(await lease()).toBe(2);
    await complete(ticketId, 'a');
    expect(await lease()).toBe(1);

    await complete(ticketId, 'b', 'FAILED');

    expect(await statuses(ticketId)).toEqual({
      a: 'SUCCEEDED',
      b: 'FAILED',
      c: 'BLOCKED',
      d: 'BLOCKED',
      e: 'BLOCKED',
      side: 'DISPATCHED',
    });
    const failedRun = await runOf(ticketId, 'b');
    expect(failedRun).toMatchObject({ status: 'FAILED', errorClass: 'AGENT_FAILED', exitCode: 1 });
    const blocked = (await taskEvents(ticketId)).filter((e) => e.status === 'BLOCKED');
    expect(blocked.map((e) => e.key).sort()).toEqual(['c', 'd', 'e']);
    // Still running elsewhere: the ticket is not settled yet, and nothing blocked is leased.
    expect(await ticketStatus(ticketId)).toBe('RUNNING');
    expect(await lease()).toBe(0);

    await complete(ticketId, 'side');
    const ticket = await env.prisma.ticket.findUniqueOrThrow({ where: { id: ticketId } });
    expect(ticket.status).toBe('FAILED');
    expect(ticket.finishedAt).not.toBeNull();
    expect(await env.prisma.run.count({ where: { task: { key: { in: ['c', 'd', 'e'] } } } })).toBe(
      0,
    );
  });

  it('ignores a finish report with a wrong lease token or a duplicate one', async () => {
    const ticketId = await create([task('a'), task('b', ['a'])]);
    await lease();
    const run = await runOf(ticketId, 'a');
    const forged = { id: run.id, leaseToken: '00000000-0000-4000-8000-000000000000' };

    expect(await start(forged)).toBe(false);
    expect(await finish(forged)).toBe(false);
    expect(await runOf(ticketId, 'a')).toEqual(run);
    expect(await statuses(ticketId)).toEqual({ a: 'DISPATCHED', b: 'PENDING' });

    expect(await start(run)).toBe(true);
    const started = await env.prisma.event.count();
    // The same runner asking again (its reply was lost) is granted again, and nothing changes.
    expect(await start(run)).toBe(true);
    expect(await env.prisma.event.count()).toBe(started);
    expect(await finish(run)).toBe(true);
    const ended = await runOf(ticketId, 'a');
    const events = await env.prisma.event.count();

    expect(await finish(run)).toBe(false);
    expect(await finish(run, 'FAILED')).toBe(false);
    expect(await finish(forged, 'FAILED')).toBe(false);

    expect(await runOf(ticketId, 'a')).toEqual(ended);
    expect(ended.status).toBe('SUCCEEDED');
    expect(await statuses(ticketId)).toEqual({ a: 'SUCCEEDED', b: 'READY' });
    expect(await env.prisma.event.count()).toBe(events);
  });

  it('ignores a finish report for a run that does not exist', async () => {
    const unknown = {
      id: '00000000-0000-4000-8000-00000000abcd',
      leaseToken: '00000000-0000-4000-8000-00000000dcba',
    };
    expect(await finish(unknown)).toBe(false);
    expect(await env.prisma.event.count()).toBe(0);
  });

  it('announces the status a task left when it finishes without a start report', async () => {
    // A start report can be lost or arrive after the finish; DISPATCHED -> SUCCEEDED is allowed.
    const ticketId = await create([task('a')]);
    await lease();
    const run = await runOf(ticketId, 'a');

    expect(await finish(run)).toBe(true);

    const last = (await taskEvents(ticketId)).filter((e) => e.status === 'SUCCEEDED');
    expect(last).toHaveLength(1);
    expect(last[0].previous).toBe('DISPATCHED');
  });
});

describe(AppendRunLog.name, () => {
  it('stores a chunk once, ignores a duplicate and rejects a wrong lease token', async () => {
    const ticketId = await create([task('logs')]);
    await lease();
    const run = await runOf(ticketId, 'logs');
    expect(await start(run)).toBe(true);
    const ts = new Date().toISOString();
    const batch = RunLogAppended.parse({
      runId: run.id,
      leaseToken: run.leaseToken,
      runnerId: 'runner-1',
      firstLine: 0,
      lines: [
        { stream: 'stdout', text: 'hello', ts },
        { stream: 'stderr', text: 'world', ts },
      ],
    });
    const appendLog = new AppendRunLog(env.prisma);
    const announced = () =>
      env.prisma.event.count({ where: { subject: Subjects.logAppended, ticketId } });

    expect(await appendLog.execute(batch)).toBe(true);
    expect(await appendLog.execute(batch)).toBe(false);
    expect(
      await appendLog.execute({
        ...batch,
        leaseToken: '00000000-0000-4000-8000-000000000000',
        firstLine: 2,
      }),
    ).toBe(false);

    const chunks = await env.prisma.logChunk.findMany({ where: { runId: run.id } });
    expect(chunks).toHaveLength(1);
    expect(chunks[0]).toMatchObject({ firstLine: 0, lineCount: 2, lines: batch.lines });
    expect((await runOf(ticketId, 'logs')).logLines).toBe(2);
    expect(await announced()).toBe(1);

    expect(await appendLog.execute({ ...batch, firstLine: 2, lines: [batch.lines[0]] })).toBe(true);
    expect(await env.prisma.logChunk.count({ where: { runId: run.id } })).toBe(2);
    expect((await runOf(ticketId, 'logs')).logLines).toBe(3);
    expect(await announced()).toBe(2);
  });
});
