import { connect, type NatsConnection } from 'nats';
import { runnerConsumer, Streams } from '@drover/contracts';
import { waitFor } from '@drover/testing';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// Runner pools: a project with its own runners gets its work only on them, never on
// the shared runners, and waits while none is there; other projects' work stays on
// the shared pool; GET /runners shows a project the shared runners and its own only.

interface RunnerItem {
  id: string;
  status: string;
  project: string | null;
}
interface Created {
  project: { id: string; slug: string; ownRunners: boolean };
  key: { key: string };
}

let stack: InProcessStack;
let nats: NatsConnection;
/** Admin of project `team-b`, which has its own runners, and the project's id. */
let adminB: string;
let projectB: string;
/** The runner of B's pool while it runs. */
let runnerB: { stop(): Promise<void> } | undefined;
let runnerBId: string;

beforeAll(async () => {
  stack = await startInProcessStack();
  nats = await connect({ servers: stack.env.natsUrl });
  runnerBId = `pool-b-${stack.env.subjectPrefix}`;
  const res = await stack.request(stack.apiKey, 'POST', '/projects', {
    slug: 'team-b',
    name: 'Team B',
    own_runners: true,
  });
  expect(res.status).toBe(201);
  const created = res.body as Created;
  expect(created.project.ownRunners).toBe(true);
  adminB = created.key.key;
  projectB = created.project.id;
}, 60_000);

afterAll(async () => {
  await nats?.close();
  await stack?.stop();
});

/** Submits a ticket of `tasks` independent tasks with the key's project; returns its id. */
async function submit(key: string, title: string, tasks = 1): Promise<string> {
  const res = await stack.request(key, 'POST', '/tickets', {
    title,
    tasks: Array.from({ length: tasks }, (_, i) => ({ key: `t${i}`, steps: [{ run: 'echo hi' }] })),
  });
  expect(res.status).toBe(201);
  return (res.body as { id: string }).id;
}

function ticketStatus(ticketId: string): Promise<string> {
  return stack.env.prisma.ticket
    .findUniqueOrThrow({ where: { id: ticketId } })
    .then((t) => t.status);
}

async function waitForSuccess(ticketId: string): Promise<void> {
  await waitFor(
    async () => (await ticketStatus(ticketId)) === 'SUCCEEDED',
    `ticket ${ticketId} to succeed`,
    30_000,
  );
}

/** The runners that ran (or hold) each run of a ticket. */
async function runnersOf(ticketId: string): Promise<(string | null)[]> {
  const runs = await stack.env.prisma.run.findMany({ where: { ticketId } });
  return runs.map((r) => r.runnerId);
}

async function runners(key: string): Promise<RunnerItem[]> {
  const res = await stack.request(key, 'GET', '/runners');
  expect(res.status).toBe(200);
  return (res.body as { items: RunnerItem[] }).items;
}

async function startRunnerB(): Promise<void> {
  runnerB = await stack.startRunner({ RUNNER_ID: runnerBId, RUNNER_PROJECT: 'team-b' });
  await waitFor(
    async () => (await runners(adminB)).some((r) => r.id === runnerBId && r.status === 'ONLINE'),
    `runner ${runnerBId} to be ONLINE`,
  );
}

/** Messages waiting for B's pool in the work stream. */
async function waitingForPoolB(): Promise<number> {
  const jsm = await nats.jetstreamManager();
  const stream = `${stack.env.subjectPrefix.toUpperCase()}_${Streams.work.name}`;
  return (await jsm.consumers.info(stream, runnerConsumer(projectB))).num_pending;
}

describe('runner pools', () => {
  it("runs a dedicated project's tickets on its own runner, and the others' on the shared one", async () => {
    await startRunnerB();

    const [ownTicket, sharedTicket] = await Promise.all([
      submit(adminB, 'team b work', 6),
      submit(stack.apiKey, 'default work', 6),
    ]);
    await Promise.all([waitForSuccess(ownTicket), waitForSuccess(sharedTicket)]);

    expect(await runnersOf(ownTicket)).toEqual(Array(6).fill(runnerBId));
    expect(await runnersOf(sharedTicket)).toEqual(Array(6).fill(stack.runnerId));
  });

  it("lists the shared runners and the key's project's own, never another project's", async () => {
    const ofB = await runners(adminB);
    expect(ofB.map((r) => [r.id, r.project]).sort()).toEqual(
      [
        [stack.runnerId, null],
        [runnerBId, 'team-b'],
      ].sort(),
    );
    const ofDefault = await runners(stack.apiKey);
    expect(ofDefault.map((r) => [r.id, r.project])).toEqual([[stack.runnerId, null]]);
    const me = await stack.request(adminB, 'GET', '/me');
    expect(me.body).toMatchObject({ project: { slug: 'team-b', ownRunners: true } });
  });

  it("keeps a dedicated project's work waiting while its pool has no runner", async () => {
    await runnerB?.stop();
    runnerB = undefined;
    const ownTicket = await submit(adminB, 'team b, nobody home');
    await waitFor(
      async () => (await waitingForPoolB()) === 1,
      "the work to wait in B's pool",
      15_000,
    );
    // The shared runner takes work submitted after it, and still not B's.
    const sharedTicket = await submit(stack.apiKey, 'default, after');
    await waitForSuccess(sharedTicket);

    const task = await stack.env.prisma.task.findFirstOrThrow({ where: { ticketId: ownTicket } });
    expect(task.status).toBe('DISPATCHED');
    expect(await runnersOf(ownTicket)).toEqual([null]);
    expect(await waitingForPoolB()).toBe(1);

    // A runner of the pool comes back and takes it.
    await startRunnerB();
    await waitForSuccess(ownTicket);
    expect(await runnersOf(ownTicket)).toEqual([runnerBId]);
    expect(await waitingForPoolB()).toBe(0);
  });
});
