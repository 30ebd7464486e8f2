import { SubmitTicket, Subjects, type TaskWaitingChanged } from '@drover/contracts';
import type { z } from 'zod';
import { createTestEnv, POLICY_DEFAULTS, startReport, type TestEnv } from '@drover/testing';
import { TimerQueue } from '@drover/timers';
import { CreateTicket, StartRun } from '@drover/workflow';
import { AssessWaitingTasks } from './assess-waiting-tasks';
import { DispatchReadyTasks } from './dispatch-ready-tasks';

type WaitingEvent = z.infer<typeof TaskWaitingChanged>;

let env: TestEnv;
let assessor: AssessWaitingTasks;
let dispatcher: DispatchReadyTasks;
let timers: TimerQueue;

beforeAll(async () => {
  env = await createTestEnv();
  timers = TimerQueue.create({ redisUrl: env.redisUrl, prefix: env.redisPrefix });
  assessor = new AssessWaitingTasks(env.prisma);
  dispatcher = new DispatchReadyTasks(env.prisma, { default: 100 }, 100);
});

afterAll(async () => {
  await timers?.close();
  await env?.destroy();
});

beforeEach(async () => {
  await env.prisma.$executeRaw`TRUNCATE ticket, event, runner CASCADE`;
});

/** A project `slug` that runs its tasks on its own runners, or not; returns its id. */
async function project(slug: string, ownRunners: boolean): Promise<string> {
  const row = await env.prisma.project.upsert({
    where: { slug },
    create: { slug, name: slug, ownRunners },
    update: { ownRunners },
  });
  return row.id;
}

/** A ticket of one task (with `image` when given) of project `slug`; returns the task's id. */
async function submit(slug?: string, image?: string): Promise<string> {
  const input = SubmitTicket.parse({
    title: 'wait',
    ...(slug ? { project: slug } : {}),
    tasks: [{ key: 't', steps: [{ run: 'true' }], ...(image ? { image } : {}) }],
  });
  const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(input);
  if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
  const task = await env.prisma.task.findFirstOrThrow({ where: { ticketId: reply.ticketId } });
  return task.id;
}

/** An ONLINE runner in `pool` (a project id; null: shared) whose engine lists `images` (undefined: says nothing). */
async function runner(id: string, pool: string | null, images?: string[]): Promise<void> {
  await env.prisma.runner.create({
    data: {
      id,
      name: id,
      slots: 2,
      freeSlots: 2,
      heartbeatIntervalMs: 1000,
      projectId: pool,
      ...(images ? { images } : {}),
    },
  });
}

async function waitingOf(taskId: string) {
  const task = await env.prisma.task.findUniqueOrThrow({ where: { id: taskId } });
  return { status: task.status, reason: task.waitingReason, since: task.waitingSince };
}

/** The `task.waiting` events in the outbox for a task, oldest first. */
async function eventsOf(taskId: string): Promise<WaitingEvent[]> {
  const rows = await env.prisma.event.findMany({
    where: { subject: Subjects.taskWaitingChanged },
    orderBy: { id: 'asc' },
  });
  return rows.map((r) => r.data as WaitingEvent).filter((e) => e.taskId === taskId);
}

describe(AssessWaitingTasks.name, () => {
  it('says no runner is online, keeps saying it once, and clears it when one comes', async () => {
    const taskId = await submit();
    expect(await assessor.execute()).toBe(1);
    const first = await waitingOf(taskId);
    expect(first).toMatchObject({ status: 'READY', reason: 'NO_RUNNER_ONLINE' });
    expect(first.since).toBeInstanceOf(Date);

    // Dispatched to nobody, it still waits for the same reason: nothing new is said.
    expect(await dispatcher.execute()).toBe(1);
    expect(await assessor.execute()).toBe(0);
    expect(await waitingOf(taskId)).toMatchObject({
      status: 'DISPATCHED',
      reason: 'NO_RUNNER_ONLINE',
    });

    await runner('r1', null);
    expect(await assessor.execute()).toBe(1);
    expect(await waitingOf(taskId)).toEqual({ status: 'DISPATCHED', reason: null, since: null });

    const events = await eventsOf(taskId);
    expect(events.map((e) => e.waiting?.reason ?? null)).toEqual(['NO_RUNNER_ONLINE', null]);
    expect(events[0]).toMatchObject({ status: 'READY', key: 't' });
    expect(events[0].waiting?.message).toMatch(/^no runner is online/);
    expect(events[0].waiting?.since).toBe(first.since?.toISOString());
  });

  it("says a project's own pool is empty while only shared runners are online", async () => {
    const own = await project('own-pool', true);
    await runner('shared-1', null);
    const taskId = await submit('own-pool');
    await assessor.execute();
    expect(await waitingOf(taskId)).toMatchObject({ reason: 'NO_RUNNER_IN_POOL' });
    const [event] = await eventsOf(taskId);
    expect(event.waiting?.message).toContain('RUNNER_PROJECT=own-pool');

    // A shared task of another project waits for nothing.
    const shared = await submit();
    await assessor.execute();
    expect(await waitingOf(shared)).toMatchObject({ reason: null });

    await runner('own-1', own);
    await assessor.execute();
    expect(await waitingOf(taskId)).toMatchObject({ reason: null });
  });

  it('holds a task whose image no runner of its pool has READY, and dispatches it once one has', async () => {
    await runner('no-node', null, ['localhost/drover-sandbox:latest', 'localhost/drover-sandbox']);
    const taskId = await submit(undefined, 'node:20');
    const plain = await submit();

    expect(await dispatcher.execute()).toBe(1);
    await assessor.execute();
    expect(await waitingOf(taskId)).toMatchObject({
      status: 'READY',
      reason: 'NO_RUNNER_WITH_IMAGE',
    });
    expect(await waitingOf(plain)).toMatchObject({ status: 'DISPATCHED', reason: null });
    const [event] = await eventsOf(taskId);
    expect(event.waiting?.message).toContain('the image node:20');

    // A runner's heartbeat says its engine has the image now.
    await env.prisma.runner.update({
      where: { id: 'no-node' },
      data: { images: ['docker.io/library/node:20', 'library/node:20', 'node:20'] },
    });
    expect(await dispatcher.execute()).toBe(1);
    await assessor.execute();
    expect(await waitingOf(taskId)).toEqual({ status: 'DISPATCHED', reason: null, since: null });
  });

  it('sends an image task to a pool with no runner (it waits there), and to a runner that names no images', async () => {
    const taskId = await submit(undefined, 'node:20');
    expect(await dispatcher.execute()).toBe(1);
    await runner('any-image', null);
    await assessor.execute();
    expect(await waitingOf(taskId)).toMatchObject({ status: 'DISPATCHED', reason: null });
  });

  it('clears the reason when a runner starts the task, and says nothing more of it', async () => {
    const taskId = await submit();
    await dispatcher.execute();
    await assessor.execute();
    // A runner registers and is granted the run before the next check.
    await runner('quick', null);
    const run = await env.prisma.run.findFirstOrThrow({ where: { taskId } });
    const options = { leaseHeartbeats: 3, timeoutGraceMs: 1000 };
    const started = await new StartRun(env.prisma, timers, options).execute(
      startReport(run, 'quick'),
    );
    expect(started.ok).toBe(true);
    expect(await waitingOf(taskId)).toEqual({ status: 'RUNNING', reason: null, since: null });
    expect(await assessor.execute()).toBe(0);
    expect((await eventsOf(taskId)).map((e) => e.waiting?.reason ?? null)).toEqual([
      'NO_RUNNER_ONLINE',
    ]);
  });
});
