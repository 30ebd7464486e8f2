import { randomUUID } from 'node:crypto';
import type { HeartbeatReply, RunFinished, RunnerHeartbeat } from '@drover/contracts';
import { createTestEnv, waitFor, type TestEnv } from '@drover/testing';
import { RecordRunFinished } from '@drover/workflow';
import { RunnerRegistry } from './runner-registry';

const RUNNERS = ['lock-a', 'lock-b', 'lock-c', 'lock-d'];
const RUNS_PER_ROUND = 60;
const ROUNDS = 3;
const FINISH_BATCH = 20;

let env: TestEnv;
let registry: RunnerRegistry;
let finished: RecordRunFinished;

beforeAll(async () => {
  env = await createTestEnv();
  registry = new RunnerRegistry(env.prisma, 3);
  finished = new RecordRunFinished(env.prisma);
  for (const id of RUNNERS) {
    await registry.register({
      runnerId: id,
      name: id,
      slots: RUNS_PER_ROUND,
      capabilities: ['command'],
      heartbeatIntervalMs: 1_000,
    });
  }
});

afterAll(async () => {
  await env?.destroy();
});

interface HeldRun {
  id: string;
  leaseToken: string;
  runnerId: string;
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** `count` RUNNING runs spread over the runners, each the one task of its own ticket. */
async function runningRuns(count: number): Promise<HeldRun[]> {
  const project = await env.prisma.project.findFirstOrThrow();
  const rows = Array.from({ length: count }, (_, i) => ({
    ticketId: randomUUID(),
    taskId: randomUUID(),
    run: { id: randomUUID(), leaseToken: randomUUID(), runnerId: RUNNERS[i % RUNNERS.length] },
  }));
  await env.prisma.ticket.createMany({
    data: rows.map((r) => ({
      id: r.ticketId,
      projectId: project.id,
      title: 'locking',
      status: 'RUNNING' as const,
      openTasks: 1,
    })),
  });
  await env.prisma.task.createMany({
    data: rows.map((r) => ({
      id: r.taskId,
      ticketId: r.ticketId,
      projectId: project.id,
      key: 'held',
      position: 0,
      status: 'RUNNING' as const,
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
    })),
  });
  await env.prisma.run.createMany({
    data: rows.map((r) => ({
      ...r.run,
      taskId: r.taskId,
      ticketId: r.ticketId,
      projectId: project.id,
      attempt: 1,
      status: 'RUNNING' as const,
      leaseExpiresAt: new Date(Date.now() + 3_000),
    })),
  });
  return rows.map((r) => r.run);
}

/** One heartbeat per runner, each listing its runs in a random order. */
function beats(runs: readonly HeldRun[]): RunnerHeartbeat[] {
  return RUNNERS.map((runnerId) => ({
    runnerId,
    freeSlots: 0,
    sentAt: new Date().toISOString(),
    activeRuns: shuffled(runs.filter((r) => r.runnerId === runnerId)).map((r) => ({
      runId: r.id,
      leaseToken: r.leaseToken,
    })),
  }));
}

const lastLine = (error: Error) => error.message.split('\n').filter(Boolean).at(-1) ?? '';

function report(run: HeldRun): RunFinished {
  return {
    runId: run.id,
    leaseToken: run.leaseToken,
    runnerId: run.runnerId,
    outcome: 'SUCCEEDED',
    exitCode: 0,
    errorClass: null,
    errorMessage: null,
    result: null,
    finishedAt: new Date().toISOString(),
  };
}

describe('lease renewal beside run endings', () => {
  it('renews leases while the orchestrator ends the same runs, without a deadlock', async () => {
    const errors: string[] = [];
    const results = new Map<string, boolean[]>();
    for (let round = 0; round < ROUNDS; round++) {
      const runs = await runningRuns(RUNS_PER_ROUND);
      let finishing = true;
      // The health monitor's heartbeat writes, one transaction after another, as its batcher does.
      const renewing = (async () => {
        while (finishing) {
          await registry.heartbeats(beats(runs)).catch((e: Error) => errors.push(lastLine(e)));
        }
      })();
      // The orchestrator's finish batches (no per-report retry: a deadlock fails the batch).
      for (let i = 0; i < runs.length; i += FINISH_BATCH) {
        const order = shuffled(runs.slice(i, i + FINISH_BATCH));
        try {
          const ended = await finished.executeMany(order.map((r) => ({ report: report(r) })));
          order.forEach((r, k) => results.set(r.id, [...(results.get(r.id) ?? []), ended[k]]));
        } catch (error) {
          errors.push(lastLine(error as Error));
        }
      }
      finishing = false;
      await renewing;
    }

    expect(errors.filter((e) => /deadlock/i.test(e)).length).toBe(0);
    expect(errors).toEqual([]);
    const runs = await env.prisma.run.findMany({ where: { runnerId: { in: RUNNERS } } });
    expect(runs).toHaveLength(ROUNDS * RUNS_PER_ROUND);
    expect(runs.filter((r) => r.status !== 'SUCCEEDED')).toEqual([]);
    expect([...results.values()].filter((r) => r.length !== 1 || !r[0])).toEqual([]);
    const tasks = await env.prisma.task.groupBy({ by: ['status'], _count: true });
    expect(tasks).toEqual([{ status: 'SUCCEEDED', _count: ROUNDS * RUNS_PER_ROUND }]);
  }, 120_000);

  it('renews the lease of a run another transaction holds once it lets go, without holding up the heartbeat', async () => {
    const [run] = await runningRuns(1);
    const before = (await env.prisma.run.findUniqueOrThrow({ where: { id: run.id } }))
      .leaseExpiresAt as Date;
    let release = () => undefined as void;
    const released = new Promise<void>((r) => (release = r));
    let locked = () => undefined as void;
    const isLocked = new Promise<void>((r) => (locked = r));
    // A log batch holding the run while the heartbeat comes.
    const holder = env.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`UPDATE run SET log_lines = log_lines + 1 WHERE id = ${run.id}::uuid`;
      locked();
      await released;
    });
    await isLocked;

    // The heartbeat answers without waiting for the row: it is not revoked.
    const replies = await Promise.race([
      registry.heartbeats(beats([run])),
      waitFor<HeartbeatReply[]>(() => false, "the heartbeat's answer while the run is held", 5_000),
    ]);
    expect(replies[RUNNERS.indexOf(run.runnerId)].revoked).toEqual([]);
    // Its renewal waits for the row, and holds nothing else meanwhile.
    await waitFor(async () => {
      const [row] = await env.prisma.$queryRaw<{ n: number }[]>`
        SELECT count(*)::int AS n FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`;
      return row.n > 0;
    }, 'the renewal to wait for the run');
    release();
    await holder;

    const after = await waitFor(async () => {
      const lease = (await env.prisma.run.findUniqueOrThrow({ where: { id: run.id } }))
        .leaseExpiresAt as Date;
      return lease.getTime() > before.getTime() && lease;
    }, 'the lease to be renewed');
    expect(after.getTime()).toBeGreaterThan(before.getTime());
  });
});
