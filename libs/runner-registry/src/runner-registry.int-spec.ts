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

function beat(runnerId: string, sentAt: Date, freeSlots = 1): RunnerHeartbeat {
  return { runnerId, freeSlots, activeRunIds: [], sentAt: sentAt.toISOString() };
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

  it('writes the buffered heartbeats of several runners in one flush, newest first', async () => {
    const ids = ['beat-1', 'beat-2', 'beat-3'];
    for (const id of ids) await registry.register(registration(id));
    const before = await Promise.all(ids.map(runner));
    const base = Math.max(...before.map((r) => r.lastHeartbeatAt.getTime()));
    const sentAt = ids.map((_, i) => new Date(base + (i + 1) * 1000));

    ids.forEach((id, i) => registry.recordHeartbeat(beat(id, sentAt[i], i)));
    // An older beat arriving late does not replace the newer one.
    registry.recordHeartbeat(beat('beat-1', new Date(base + 1), 3));

    // Buffered only: nothing is written before the flush.
    expect((await Promise.all(ids.map(runner))).map((r) => r.lastHeartbeatAt)).toEqual(
      before.map((r) => r.lastHeartbeatAt),
    );
    const events = await env.prisma.event.count();

    expect(await registry.flushHeartbeats()).toBe(3);

    const after = await Promise.all(ids.map(runner));
    expect(after.map((r) => r.lastHeartbeatAt)).toEqual(sentAt);
    expect(after.map((r) => r.freeSlots)).toEqual([0, 1, 2]);
    expect(after.every((r) => r.status === 'ONLINE')).toBe(true);
    // Beats of ONLINE runners change no status, so announce nothing.
    expect(await env.prisma.event.count()).toBe(events);
    expect(await registry.flushHeartbeats()).toBe(0);
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

    registry.recordHeartbeat(beat('comeback', new Date(), 2));
    await registry.flushHeartbeats();

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
    registry.recordHeartbeat(beat('late-beat', new Date(lastHeartbeatAt.getTime() + 1)));
    await registry.flushHeartbeats();

    expect((await runner('late-beat')).status).toBe('STALE');
    expect((await changes('late-beat')).map((e) => e.status)).toEqual(['ONLINE', 'STALE']);
  });

  it('keeps a deregistered runner OFFLINE whatever heartbeats follow', async () => {
    await registry.register(registration('leaver'));
    // A beat buffered before leaving must not revive it either.
    registry.recordHeartbeat(beat('leaver', new Date(Date.now() + 1000), 3));

    expect(await registry.deregister({ runnerId: 'leaver' })).toBe(true);
    const left = await runner('leaver');
    expect(left).toMatchObject({ status: 'OFFLINE', freeSlots: 0 });
    expect(await registry.deregister({ runnerId: 'leaver' })).toBe(false);

    registry.recordHeartbeat(beat('leaver', new Date(Date.now() + 2000), 4));
    await registry.flushHeartbeats();
    await registry.markStale();

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
