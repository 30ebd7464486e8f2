import {
  RunDispatched,
  SubmitTicket,
  Subjects,
  workSubject,
  type SubmitTicketInput,
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
import { CreateTicket, FireTimer, Reconciler, RecordRunFinished, StartRun } from '@drover/workflow';
import { DispatchReadyTasks } from './dispatch-ready-tasks';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let env: TestEnv;
let timers: TimerQueue;

beforeAll(async () => {
  env = await createTestEnv();
  timers = TimerQueue.create({ redisUrl: env.redisUrl, prefix: env.redisPrefix });
});

afterAll(async () => {
  await timers?.close();
  await env?.destroy();
});

beforeEach(async () => {
  // Every test starts from an empty scheduler: no tickets, runs or events.
  await env.prisma.$executeRaw`TRUNCATE ticket, event CASCADE`; // and all under the tickets
});

/** Creates a ticket of `count` tasks without dependencies; returns its id. */
async function createTicket(
  count: number,
  overrides: Partial<SubmitTicketInput> = {},
  prisma: PrismaClient = env.prisma,
): Promise<string> {
  const input = SubmitTicket.parse({
    title: 'independent work',
    tasks: Array.from({ length: count }, (_, i) => ({ key: `t${i}`, steps: [{ run: 'true' }] })),
    ...overrides,
  });
  const reply = await new CreateTicket(prisma, POLICY_DEFAULTS).execute(input);
  if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
  return reply.ticketId;
}

/** Reports a run as succeeded with its own lease token. */
function succeed(prisma: PrismaClient, run: { id: string; leaseToken: string }): Promise<boolean> {
  return new RecordRunFinished(prisma, timers).execute(finishReport(run));
}

function activeTasks(prisma: PrismaClient = env.prisma): Promise<number> {
  return prisma.task.count({ where: { status: { in: ['DISPATCHED', 'RUNNING'] } } });
}

/** Makes sure a project `slug` exists with this running-task limit (null: the default). */
async function project(slug: string, maxRunningTasks: number | null): Promise<string> {
  const row = await env.prisma.project.upsert({
    where: { slug },
    create: { slug, name: slug, maxRunningTasks },
    update: { maxRunningTasks },
  });
  return row.id;
}

/** Makes sure a project `slug` exists that runs its tasks on its own runners, or not. */
async function projectWithRunners(slug: string, ownRunners: boolean): Promise<string> {
  const row = await env.prisma.project.upsert({
    where: { slug },
    create: { slug, name: slug, ownRunners },
    update: { ownRunners },
  });
  return row.id;
}

/** The subject of each work message in the outbox, by the ticket it is for. */
async function workSubjectsOf(ticketId: string): Promise<string[]> {
  const rows = await env.prisma.event.findMany({
    where: { ticketId, subject: { startsWith: Subjects.runDispatched } },
    orderBy: { id: 'asc' },
  });
  return rows.map((r) => r.subject);
}

/** DISPATCHED or RUNNING tasks of one project. */
function activeOf(projectId: string): Promise<number> {
  return env.prisma.task.count({
    where: { projectId, status: { in: ['DISPATCHED', 'RUNNING'] } },
  });
}

/** Reports every DISPATCHED run of a project as succeeded. */
async function finishAll(projectId: string): Promise<void> {
  const runs = await env.prisma.run.findMany({ where: { projectId, status: 'DISPATCHED' } });
  for (const run of runs) expect(await succeed(env.prisma, run)).toBe(true);
}

describe(DispatchReadyTasks.name, () => {
  it('dispatches exactly the limit with leased runs, then none until a run ends', async () => {
    const ticketId = await createTicket(8);
    const dispatcher = new DispatchReadyTasks(env.prisma, { default: 3 }, 10);

    expect(await dispatcher.execute()).toBe(3);

    const runs = await env.prisma.run.findMany();
    expect(runs).toHaveLength(3);
    for (const run of runs) {
      expect(run.attempt).toBe(1);
      expect(run.status).toBe('DISPATCHED');
      expect(run.leaseToken).toMatch(UUID);
      expect(run.ticketId).toBe(ticketId);
    }
    expect(new Set(runs.map((r) => r.leaseToken)).size).toBe(3);

    const dispatched = await env.prisma.task.findMany({ where: { status: 'DISPATCHED' } });
    expect(dispatched.map((t) => t.id).sort()).toEqual(runs.map((r) => r.taskId).sort());
    expect(dispatched.every((t) => t.attempt === 1)).toBe(true);
    expect(await env.prisma.task.count({ where: { status: 'READY' } })).toBe(5);
    expect((await env.prisma.ticket.findUniqueOrThrow({ where: { id: ticketId } })).status).toBe(
      'RUNNING',
    );

    const work = await env.prisma.event.findMany({ where: { subject: Subjects.runDispatched } });
    expect(work).toHaveLength(3);
    for (const row of work) {
      expect(row.internal).toBe(true);
      expect(row.ticketId).toBe(ticketId);
      const data = RunDispatched.parse(row.data);
      const run = runs.find((r) => r.id === data.runId);
      expect(run).toBeDefined();
      expect(data).toMatchObject({
        taskId: run?.taskId,
        attempt: 1,
        leaseToken: run?.leaseToken,
        agent: 'command',
      });
    }

    // The provider is full: nothing more until a slot frees up.
    expect(await dispatcher.execute()).toBe(0);
    expect(await env.prisma.run.count()).toBe(3);

    expect(await succeed(env.prisma, runs[0])).toBe(true);
    expect(await dispatcher.execute()).toBe(1);
    expect(await dispatcher.execute()).toBe(0);
    expect(await env.prisma.run.count()).toBe(4);
    expect(await activeTasks()).toBe(3);
  });

  it('never exceeds the limit nor dispatches a task twice with two schedulers racing', async () => {
    const limit = 3;
    await createTicket(60);
    const clients = [
      createPrismaClient(env.databaseUrl, 5),
      createPrismaClient(env.databaseUrl, 5),
    ];
    try {
      const [a, b] = clients.map((c) => new DispatchReadyTasks(c, { default: limit }, 10));
      let dispatched = 0;
      for (let round = 0; round < 20; round++) {
        // Finish one active run while both schedulers claim, to keep slots turning over.
        const running = await env.prisma.run.findFirst({
          where: { status: 'DISPATCHED' },
          orderBy: { dispatchedAt: 'asc' },
        });
        const results = await Promise.all([
          a.execute(),
          b.execute(),
          a.execute(),
          b.execute(),
          running ? succeed(clients[round % 2], running).then(() => 0) : 0,
        ]);
        dispatched += results.reduce((sum, n) => sum + n, 0);

        expect(await activeTasks()).toBeLessThanOrEqual(limit);
        const perTask = await env.prisma.run.groupBy({ by: ['taskId'], _count: { _all: true } });
        expect(perTask.filter((g) => g._count._all > 1)).toEqual([]);
      }
      // The last round's finish may land after its claims: one quiet pass refills the slot.
      dispatched += await a.execute();
      expect(await env.prisma.run.count()).toBe(dispatched);
      // 3 at first, then one per finished run: the race did make progress.
      expect(dispatched).toBeGreaterThanOrEqual(limit + 15);
      expect(await activeTasks()).toBe(limit);
    } finally {
      await Promise.all(clients.map((c) => c.$disconnect()));
    }
  });

  it('takes a higher-priority task before an older one', async () => {
    const old = await createTicket(1, { title: 'old and low', priority: 0 });
    const urgent = await createTicket(1, { title: 'new and high', priority: 5 });
    const [oldTask, urgentTask] = await Promise.all(
      [old, urgent].map((ticketId) => env.prisma.task.findFirstOrThrow({ where: { ticketId } })),
    );
    expect(urgentTask.readyAt?.getTime()).toBeGreaterThanOrEqual(
      oldTask.readyAt?.getTime() ?? Infinity,
    );
    const dispatcher = new DispatchReadyTasks(env.prisma, { default: 1 }, 10);

    expect(await dispatcher.execute()).toBe(1);
    const first = await env.prisma.run.findFirstOrThrow();
    expect(first.taskId).toBe(urgentTask.id);

    await succeed(env.prisma, first);
    expect(await dispatcher.execute()).toBe(1);
    const second = await env.prisma.run.findFirstOrThrow({ where: { id: { not: first.id } } });
    expect(second.taskId).toBe(oldTask.id);
  });

  it('takes the older task first within one priority', async () => {
    const first = await createTicket(1, { title: 'first' });
    await createTicket(1, { title: 'second' });
    const dispatcher = new DispatchReadyTasks(env.prisma, { default: 1 }, 10);

    expect(await dispatcher.execute()).toBe(1);
    expect((await env.prisma.run.findFirstOrThrow()).ticketId).toBe(first);
  });

  it('dispatches the join of a diamond only after both branches succeeded', async () => {
    const input = SubmitTicket.parse({
      title: 'diamond',
      tasks: [
        { key: 'a', steps: [{ run: 'true' }] },
        { key: 'b', depends_on: ['a'], steps: [{ run: 'true' }] },
        { key: 'c', depends_on: ['a'], steps: [{ run: 'true' }] },
        { key: 'd', depends_on: ['b', 'c'], steps: [{ run: 'true' }] },
      ],
    });
    const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(input);
    if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
    await registerRunner(env.prisma, 'runner-1');
    const dispatcher = new DispatchReadyTasks(env.prisma, { default: 10 }, 10);
    const dispatchedKeys = async () =>
      (await env.prisma.run.findMany({ include: { task: true } })).map((r) => r.task.key).sort();
    /** Reports start then success of the run of `key`, with the lease token the scheduler gave. */
    const runTask = async (key: string) => {
      const run = await env.prisma.run.findFirstOrThrow({ where: { task: { key } } });
      const options = { leaseHeartbeats: 3, timeoutGraceMs: 1000 };
      const reply = await new StartRun(env.prisma, timers, options).execute(startReport(run));
      expect(reply.ok).toBe(true);
      expect(await succeed(env.prisma, run)).toBe(true);
    };

    expect(await dispatcher.execute()).toBe(1);
    await runTask('a');
    expect(await dispatcher.execute()).toBe(2);
    expect(await dispatchedKeys()).toEqual(['a', 'b', 'c']);

    await runTask('b');
    expect(await dispatcher.execute()).toBe(0);
    await runTask('c');
    expect(await dispatcher.execute()).toBe(1);
    expect(await dispatchedKeys()).toEqual(['a', 'b', 'c', 'd']);

    await runTask('d');
    const ticket = await env.prisma.ticket.findUniqueOrThrow({ where: { id: reply.ticketId } });
    expect(ticket.status).toBe('SUCCEEDED');
    expect(await dispatcher.execute()).toBe(0);
  });

  it('dispatches at most the batch size per pass', async () => {
    await createTicket(10);
    const dispatcher = new DispatchReadyTasks(env.prisma, { default: 100 }, 4);

    expect(await dispatcher.execute()).toBe(4);
    expect(await dispatcher.execute()).toBe(4);
    expect(await dispatcher.execute()).toBe(2);
    expect(await dispatcher.execute()).toBe(0);
    expect(await env.prisma.run.count()).toBe(10);
    expect(await activeTasks()).toBe(10);
  });

  it("holds a project at its own running-task limit without holding back another's work", async () => {
    const a = await project('limited-a', 2);
    const b = await project('unlimited-b', null);
    // A's work is more urgent: were its waiting tasks to take the batch, B would get none.
    await createTicket(5, { project: 'limited-a', priority: 10 });
    await createTicket(3, { project: 'unlimited-b' });
    const dispatcher = new DispatchReadyTasks(env.prisma, { default: 100 }, 5);

    expect(await dispatcher.execute()).toBe(5);
    expect(await activeOf(a)).toBe(2);
    expect(await activeOf(b)).toBe(3);
    expect(await env.prisma.task.count({ where: { projectId: a, status: 'READY' } })).toBe(3);

    expect(await dispatcher.execute()).toBe(0);

    await finishAll(a);
    expect(await dispatcher.execute()).toBe(2);
    expect(await activeOf(a)).toBe(2);
    expect(await env.prisma.task.count({ where: { projectId: a, status: 'SUCCEEDED' } })).toBe(2);
    expect(await env.prisma.task.count({ where: { projectId: a, status: 'READY' } })).toBe(1);
    expect(await activeOf(b)).toBe(3);
  });

  it("applies the configured default to projects without their own limit, and a row's own over it", async () => {
    const plain = await project('plain', null);
    const raised = await project('raised', 4);
    await createTicket(6, { project: 'plain' });
    await createTicket(6, { project: 'raised' });
    const dispatcher = new DispatchReadyTasks(env.prisma, { default: 100 }, 100, 1);

    expect(await dispatcher.execute()).toBe(5);
    expect(await activeOf(plain)).toBe(1);
    expect(await activeOf(raised)).toBe(4);
  });

  it('sends the work of a project with its own runners to its pool, and only there', async () => {
    const own = await projectWithRunners('own-pool', true);
    await projectWithRunners('shared-pool', false);
    const ownTicket = await createTicket(2, { project: 'own-pool' });
    const sharedTicket = await createTicket(2, { project: 'shared-pool' });
    const defaultTicket = await createTicket(1);

    expect(await new DispatchReadyTasks(env.prisma, { default: 100 }, 100).execute()).toBe(5);

    expect(await workSubjectsOf(ownTicket)).toEqual([workSubject(own), workSubject(own)]);
    expect(await workSubjectsOf(sharedTicket)).toEqual([
      Subjects.runDispatched,
      Subjects.runDispatched,
    ]);
    expect(await workSubjectsOf(defaultTicket)).toEqual([Subjects.runDispatched]);
    // The pool's messages carry the same work as the shared ones.
    const [row] = await env.prisma.event.findMany({ where: { subject: workSubject(own) } });
    const run = await env.prisma.run.findUniqueOrThrow({
      where: { id: RunDispatched.parse(row.data).runId },
    });
    expect(row).toMatchObject({ internal: true, ticketId: ownTicket });
    expect(run.projectId).toBe(own);
  });

  it('sends the work of an unstarted run again to the pool it was sent to first', async () => {
    const own = await projectWithRunners('own-pool', true);
    const ownTicket = await createTicket(1, { project: 'own-pool' });
    const sharedTicket = await createTicket(1);
    expect(await new DispatchReadyTasks(env.prisma, { default: 100 }, 100).execute()).toBe(2);
    const reconciler = new Reconciler(env.prisma, new FireTimer(env.prisma, timers), timers, {
      startDeadlineMs: 100,
      timerGraceMs: 1_000,
      batch: 100,
      leaseHeartbeats: 3,
    });
    // Both runs were dispatched long enough ago for the start deadline to have passed.
    await env.prisma.run.updateMany({ data: { dispatchedAt: new Date(Date.now() - 60_000) } });

    expect((await reconciler.pass()).redispatched).toBe(2);

    expect(await workSubjectsOf(ownTicket)).toEqual([workSubject(own), workSubject(own)]);
    expect(await workSubjectsOf(sharedTicket)).toEqual([
      Subjects.runDispatched,
      Subjects.runDispatched,
    ]);
    // Still waiting for a runner of its pool: DISPATCHED, not started.
    const task = await env.prisma.task.findFirstOrThrow({ where: { ticketId: ownTicket } });
    expect(task.status).toBe('DISPATCHED');
  });
});
