import { randomUUID } from 'node:crypto';
import {
  RunnerChanged,
  Subjects,
  type RegisterRunner,
  type RunnerHeartbeat,
} from '@drover/contracts';
import { createTestEnv, waitFor, type TestEnv } from '@drover/testing';
import { RunnerRegistry } from './runner-registry';

const STALE_AFTER = 3;

let env: TestEnv;
let registry: RunnerRegistry;

beforeAll(async () => {
  env = await createTestEnv();
  registry = new RunnerRegistry(env.prisma, STALE_AFTER);
});

afterAll(async () => {
  await env?.destroy();
});

function registration(runnerId: string, overrides: Partial<RegisterRunner> = {}): RegisterRunner {
  return {
    runnerId,
    name: `runner ${runnerId}`,
    slots: 4,
    capabilities: ['command'],
    heartbeatIntervalMs: 60_000,
    ...overrides,
  };
}

function beat(
  runnerId: string,
  sentAt: Date,
  freeSlots = 1,
  activeRuns: RunnerHeartbeat['activeRuns'] = [],
): RunnerHeartbeat {
  return { runnerId, freeSlots, activeRuns, sentAt: sentAt.toISOString() };
}

function runner(id: string) {
  return env.prisma.runner.findUniqueOrThrow({ where: { id } });
}

/** The runner.changed events of one runner, oldest first. */
async function changes(runnerId: string) {
  const rows = await env.prisma.event.findMany({
    where: { subject: Subjects.runnerChanged },
    orderBy: { id: 'asc' },
  });
  return rows.map((r) => RunnerChanged.parse(r.data)).filter((e) => e.runnerId === runnerId);
}

/** Registers a runner that beats every 50 ms, then lets it miss its beats until it is STALE. */
async function staleRunner(runnerId: string): Promise<void> {
  await registry.register(registration(runnerId, { heartbeatIntervalMs: 50 }));
  await waitFor(
    async () => (await registry.markStale()).includes(runnerId),
    `${runnerId} to become STALE`,
    5_000,
    20,
  );
}

describe(RunnerRegistry.name, () => {
  it('registers a runner as ONLINE and announces it', async () => {
    await registry.register(registration('reg-1'));

    expect(await runner('reg-1')).toMatchObject({
      name: 'runner reg-1',
      status: 'ONLINE',
      slots: 4,
      freeSlots: 4,
      capabilities: ['command'],
      heartbeatIntervalMs: 60_000,
    });
    expect(await changes('reg-1')).toEqual([
      { runnerId: 'reg-1', name: 'runner reg-1', status: 'ONLINE', previous: null },
    ]);
    const [row] = await env.prisma.event.findMany({ where: { subject: Subjects.runnerChanged } });
    expect(row).toMatchObject({ internal: false, ticketId: null, seq: null, publishedAt: null });
  });

  it('registers a runner in the shared pool unless it names a project', async () => {
    expect(await registry.register(registration('shared-1'))).toEqual({ ok: true });
    expect((await runner('shared-1')).projectId).toBeNull();
    const [announced] = await env.prisma.event.findMany({
      where: { subject: Subjects.runnerChanged },
      orderBy: { id: 'desc' },
      take: 1,
    });
    expect(announced.projectId).toBeNull();
  });

  it('registers a runner in the own pool of the project it names, and says which', async () => {
    const project = await env.prisma.project.create({
      data: { slug: 'team-b', name: 'team b', ownRunners: true },
    });

    const reply = await registry.register(registration('pool-b', { project: 'team-b' }));

    expect(reply).toEqual({ ok: true, projectId: project.id });
    expect(await runner('pool-b')).toMatchObject({ status: 'ONLINE', projectId: project.id });
    // Announced on its project's event stream alone.
    const announced = await env.prisma.event.findMany({
      where: { subject: Subjects.runnerChanged, projectId: project.id },
    });
    expect(announced.map((e) => RunnerChanged.parse(e.data).runnerId)).toEqual(['pool-b']);
    // Registering again without the project moves it back to the shared pool.
    expect(await registry.register(registration('pool-b'))).toEqual({ ok: true });
    expect((await runner('pool-b')).projectId).toBeNull();
  });

  it('refuses a runner that names a project that does not exist, and writes nothing', async () => {
    const events = await env.prisma.event.count();

    const reply = await registry.register(registration('pool-x', { project: 'no-such-team' }));

    expect(reply).toEqual({ ok: false, message: 'project "no-such-team" does not exist' });
    expect(await env.prisma.runner.findUnique({ where: { id: 'pool-x' } })).toBeNull();
    expect(await env.prisma.event.count()).toBe(events);
  });

  it('leaves a registered runner as it was when it asks again for a project that does not exist', async () => {
    await registry.register(registration('pool-y'));
    const before = await runner('pool-y');

    const reply = await registry.register(
      registration('pool-y', { project: 'no-such-team', slots: 9 }),
    );

    expect(reply.ok).toBe(false);
    expect(await runner('pool-y')).toEqual(before);
  });

  it('writes the heartbeats of several runners in one transaction, the newest per runner', async () => {
    const ids = ['beat-1', 'beat-2', 'beat-3'];
    for (const id of ids) await registry.register(registration(id));
    const before = await Promise.all(ids.map(runner));
    const events = await env.prisma.event.count();
    // Beats newer than the registrations, and not in the future (which is never believed).
    const base = Math.max(...before.map((r) => r.lastHeartbeatAt.getTime()));
    const sentAt = ids.map((_, i) => new Date(base + (i + 1) * 10));
    await waitFor(() => Date.now() > base + 50, 'the beats to be in the past');
    const now = Date.now();

    const replies = await registry.heartbeats([
      ...ids.map((id, i) => beat(id, sentAt[i], i)),
      // An older beat of beat-1 in the same batch does not replace the newer one.
      beat('beat-1', new Date(now - 1000), 3),
      // A runner nobody registered is told to register.
      beat('stranger', new Date(now), 1),
    ]);

    expect(replies.map((r) => r.registered)).toEqual([true, true, true, true, false]);
    const after = await Promise.all(ids.map(runner));
    expect(after.map((r) => r.lastHeartbeatAt)).toEqual(sentAt);
    after.forEach((r, i) => expect(r.lastHeartbeatAt >= before[i].lastHeartbeatAt).toBe(true));
    expect(after.map((r) => r.freeSlots)).toEqual([0, 1, 2]);
    expect(after.every((r) => r.status === 'ONLINE')).toBe(true);
    // Beats of ONLINE runners change no status, so announce nothing.
    expect(await env.prisma.event.count()).toBe(events);
    expect(await registry.heartbeats([])).toEqual([]);
  });

  it('keeps the images a runner lists at registration, and those a heartbeat says changed', async () => {
    await registry.register(registration('imgs', { images: ['node:20', 'library/node:20'] }));
    expect((await runner('imgs')).images).toEqual(['node:20', 'library/node:20']);
    // A beat without images leaves them; one with images replaces them.
    await registry.heartbeats([beat('imgs', new Date())]);
    expect((await runner('imgs')).images).toEqual(['node:20', 'library/node:20']);
    await registry.heartbeats([{ ...beat('imgs', new Date()), images: ['python:3'] }]);
    expect((await runner('imgs')).images).toEqual(['python:3']);
    // Registering again without images: a runner that says nothing runs any image.
    await registry.register(registration('imgs'));
    expect((await runner('imgs')).images).toBeNull();
  });

  it('never dates a heartbeat in the future, whatever the runner’s clock says', async () => {
    await registry.register(registration('fast-clock'));
    await registry.heartbeats([beat('fast-clock', new Date(Date.now() + 3_600_000))]);
    expect((await runner('fast-clock')).lastHeartbeatAt.getTime()).toBeLessThanOrEqual(Date.now());
  });

  it('marks a silent runner STALE after about three intervals, not before', async () => {
    const interval = 200;
    const registeredBy = Date.now();
    await registry.register(registration('silent', { heartbeatIntervalMs: interval }));

    expect(await registry.markStale()).not.toContain('silent');
    expect((await runner('silent')).status).toBe('ONLINE');

    const staleAt = await waitFor(
      async () => (await registry.markStale()).includes('silent') && Date.now(),
      'the silent runner to become STALE',
      5_000,
      20,
    );

    const elapsed = staleAt - registeredBy;
    expect(elapsed).toBeGreaterThanOrEqual(STALE_AFTER * interval);
    expect(elapsed).toBeLessThan(STALE_AFTER * interval + 2_000);
    expect((await runner('silent')).status).toBe('STALE');
    expect((await changes('silent')).map((e) => [e.status, e.previous])).toEqual([
      ['ONLINE', null],
      ['STALE', 'ONLINE'],
    ]);
    // Already STALE: a second sweep does not report or announce it again.
    expect(await registry.markStale()).not.toContain('silent');
    expect(await changes('silent')).toHaveLength(2);
  });

  it('brings a STALE runner that beats again back ONLINE and announces it', async () => {
    await staleRunner('comeback');

    await registry.heartbeats([beat('comeback', new Date(), 2)]);

    expect(await runner('comeback')).toMatchObject({ status: 'ONLINE', freeSlots: 2 });
    expect((await changes('comeback')).map((e) => [e.status, e.previous])).toEqual([
      ['ONLINE', null],
      ['STALE', 'ONLINE'],
      ['ONLINE', 'STALE'],
    ]);
  });

  it('keeps a STALE runner STALE when a heartbeat arrives that is itself too old', async () => {
    await staleRunner('late-beat');
    const { lastHeartbeatAt } = await runner('late-beat');
    const [reply] = await registry.heartbeats([
      beat('late-beat', new Date(lastHeartbeatAt.getTime() + 1)),
    ]);

    expect((await runner('late-beat')).status).toBe('STALE');
    // A STALE runner's leases are not renewed, so the reply gives them no new term.
    expect(reply).toEqual({ registered: true, revoked: [] });
    expect((await changes('late-beat')).map((e) => e.status)).toEqual(['ONLINE', 'STALE']);
  });

  it('keeps a deregistered runner OFFLINE whatever heartbeats follow', async () => {
    await registry.register(registration('leaver'));

    expect(await registry.deregister({ runnerId: 'leaver' })).toBe(true);
    const left = await runner('leaver');
    expect(left).toMatchObject({ status: 'OFFLINE', freeSlots: 0 });
    expect(await registry.deregister({ runnerId: 'leaver' })).toBe(false);

    const [reply] = await registry.heartbeats([beat('leaver', new Date(), 4)]);
    await registry.markStale();

    expect(reply).toEqual({ registered: false, revoked: [] });

    expect(await runner('leaver')).toEqual(left);
    expect((await changes('leaver')).map((e) => [e.status, e.previous])).toEqual([
      ['ONLINE', null],
      ['OFFLINE', 'ONLINE'],
    ]);
  });

  it('lets a runner that left come back by registering again', async () => {
    await registry.register(registration('returner'));
    await registry.deregister({ runnerId: 'returner' });

    await registry.register(registration('returner', { slots: 8 }));

    expect(await runner('returner')).toMatchObject({ status: 'ONLINE', slots: 8, freeSlots: 8 });
    expect((await changes('returner')).map((e) => [e.status, e.previous])).toEqual([
      ['ONLINE', null],
      ['OFFLINE', 'ONLINE'],
      ['ONLINE', 'OFFLINE'],
    ]);
  });
});

describe('leases', () => {
  /** A RUNNING run held by `runnerId`, with its lease ending `leaseMs` from now. */
  async function runningRun(runnerId: string, leaseMs = 60_000) {
    const project = await env.prisma.project.findFirstOrThrow();
    const ticket = await env.prisma.ticket.create({
      data: { id: randomUUID(), projectId: project.id, title: 'leases', openTasks: 1 },
    });
    const task = await env.prisma.task.create({
      data: {
        id: randomUUID(),
        ticketId: ticket.id,
        projectId: project.id,
        key: 'held',
        position: 0,
        status: 'RUNNING',
        agent: 'command',
        provider: 'default',
        spec: { steps: [] },
        attempt: 1,
        maxAttempts: 1,
        timeoutMs: 60_000,
        backoffBaseMs: 1_000,
        backoffFactor: 2,
        backoffCapMs: 60_000,
        retryOn: [],
      },
    });
    return env.prisma.run.create({
      data: {
        id: randomUUID(),
        taskId: task.id,
        ticketId: ticket.id,
        projectId: project.id,
        attempt: 1,
        status: 'RUNNING',
        leaseToken: randomUUID(),
        runnerId,
        leaseExpiresAt: new Date(Date.now() + leaseMs),
      },
    });
  }

  const leaseOf = async (id: string) =>
    (await env.prisma.run.findUniqueOrThrow({ where: { id } })).leaseExpiresAt as Date;

  it('renews the lease of each run a heartbeat lists and revokes the ones it no longer holds', async () => {
    await registry.register(registration('holder', { heartbeatIntervalMs: 1_000 }));
    const held = await runningRun('holder', 100);
    const elsewhere = await runningRun('someone-else');
    const ended = await runningRun('holder');
    await env.prisma.run.update({ where: { id: ended.id }, data: { status: 'CANCELLED' } });
    const before = Date.now();

    const [reply] = await registry.heartbeats([
      beat('holder', new Date(), 1, [
        { runId: held.id, leaseToken: held.leaseToken },
        { runId: elsewhere.id, leaseToken: elsewhere.leaseToken },
        { runId: ended.id, leaseToken: ended.leaseToken },
        { runId: randomUUID(), leaseToken: held.leaseToken },
      ]),
    ]);

    expect(reply.registered).toBe(true);
    // How long the renewed leases last, for the runner's container watchdog.
    expect(reply.leaseMs).toBe(STALE_AFTER * 1_000);
    expect(reply.revoked).toHaveLength(3);
    expect(reply.revoked).not.toContain(held.id);
    // Renewed for three heartbeat intervals from now.
    const renewed = (await leaseOf(held.id)).getTime();
    expect(renewed).toBeGreaterThanOrEqual(before + STALE_AFTER * 1_000 - 100);
    expect(renewed).toBeLessThanOrEqual(Date.now() + STALE_AFTER * 1_000 + 100);
    // A wrong token renews nothing.
    const [forged] = await registry.heartbeats([
      beat('holder', new Date(), 1, [{ runId: held.id, leaseToken: randomUUID() }]),
    ]);
    expect(forged.revoked).toEqual([held.id]);
  });

  it('ends the leases of a runner that goes STALE, and of one that registers again', async () => {
    await registry.register(registration('vanishing', { heartbeatIntervalMs: 50 }));
    const lost = await runningRun('vanishing');
    await waitFor(
      async () => (await registry.markStale()).includes('vanishing'),
      'the runner to become STALE',
      5_000,
      20,
    );
    expect((await leaseOf(lost.id)).getTime()).toBeLessThanOrEqual(Date.now());

    await registry.register(registration('restarter'));
    const orphan = await runningRun('restarter');
    await registry.register(registration('restarter'));
    expect((await leaseOf(orphan.id)).getTime()).toBeLessThanOrEqual(Date.now());
  });
});
