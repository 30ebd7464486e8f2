import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Waiting } from '@drover/contracts';
import { EventStreamClient, waitFor, type ReceivedEvent } from '@drover/testing';

import { drover, spawnDrover } from './support/cli';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// No silent waiting: a task no runner can take says why (GET /tasks/:id, the
// event stream, the CLI), from the runner registry, and stops saying it once a
// runner takes it; /health counts the runners online per pool.

interface TaskBody {
  id: string;
  status: string;
  waiting: Waiting | null;
}
interface Health {
  status: string;
  runners: { online: number; pools: Record<string, number> } | null;
}

let stack: InProcessStack;
let scratch: string;
/** Admin of project `team-w`, which runs its tasks on its own runners. */
let adminW: string;
const runners: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  // No runner at first: the stack's own is started by the first test.
  stack = await startInProcessStack({}, { runner: false });
  scratch = await mkdtemp(join(tmpdir(), 'drover-waiting-'));
  const res = await stack.request(stack.apiKey, 'POST', '/projects', {
    slug: 'team-w',
    name: 'Team W',
    own_runners: true,
  });
  expect(res.status).toBe(201);
  adminW = (res.body as { key: { key: string } }).key.key;
}, 60_000);

afterAll(async () => {
  for (const r of runners) await r.stop();
  await stack?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Submits a one-task ticket with the key's project; returns the ticket's and the task's ids. */
async function submit(key: string, title: string): Promise<{ ticketId: string; taskId: string }> {
  const res = await stack.request(key, 'POST', '/tickets', {
    title,
    tasks: [{ key: 'only', steps: [{ run: 'echo ran' }] }],
  });
  expect(res.status).toBe(201);
  const ticket = res.body as { id: string; tasks: { id: string }[] };
  return { ticketId: ticket.id, taskId: ticket.tasks[0].id };
}

async function task(key: string, id: string): Promise<TaskBody> {
  const res = await stack.request(key, 'GET', `/tasks/${id}`);
  expect(res.status).toBe(200);
  return res.body as TaskBody;
}

async function health(): Promise<Health> {
  const res = await fetch(`${stack.baseUrl}/health`);
  expect(res.status).toBe(200);
  return (await res.json()) as Health;
}

async function waitForTicket(key: string, ticketId: string, status: string): Promise<void> {
  await waitFor(
    async () =>
      ((await stack.request(key, 'GET', `/tickets/${ticketId}`)).body as { status: string })
        .status === status,
    `ticket ${ticketId} to be ${status}`,
    30_000,
  );
}

async function startRunner(id: string, project?: string): Promise<void> {
  runners.push(
    await stack.startRunner({ RUNNER_ID: id, ...(project ? { RUNNER_PROJECT: project } : {}) }),
  );
}

const waitingEvent =
  (taskId: string, reason: string | null) =>
  (e: ReceivedEvent): boolean =>
    e.type === 'task.waiting' &&
    e.data.taskId === taskId &&
    (e.data.waiting?.reason ?? null) === reason;

/** Resolves with what the CLI wrote to stdout once `pattern` shows in it. */
function untilPrinted(child: ChildProcess, pattern: RegExp, what: string): Promise<string> {
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no ${what} within 30 s; stdout: ${out}`)),
      30_000,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (pattern.test(out)) {
        clearTimeout(timer);
        resolve(out);
      }
    });
  });
}

describe('a task no runner can take', () => {
  it('says no runner is online, on the task, the stream and the CLI, until a runner takes it', async () => {
    expect((await health()).runners).toEqual({ online: 0, pools: { shared: 0 } });
    const stream = await EventStreamClient.connect(
      `${stack.baseUrl.replace('http', 'ws')}/events`,
      stack.apiKey,
    );
    try {
      const { ticketId, taskId } = await submit(stack.apiKey, 'nobody home');
      const event = await stream.waitForEvent(
        waitingEvent(taskId, 'NO_RUNNER_ONLINE'),
        'the task to wait for a runner',
        15_000,
      );
      if (event.type !== 'task.waiting') throw new Error('not a task.waiting event');
      expect(event.ticketId).toBe(ticketId);
      expect(event.data.waiting?.message).toMatch(/^no runner is online: start a runner/);

      const waiting = await task(stack.apiKey, taskId);
      expect(['READY', 'DISPATCHED']).toContain(waiting.status);
      expect(waiting.waiting).toEqual(event.data.waiting);
      const ticket = await stack.request(stack.apiKey, 'GET', `/tickets/${ticketId}`);
      expect((ticket.body as { tasks: TaskBody[] }).tasks[0].waiting).toEqual(waiting.waiting);

      const shown = await drover(stack.baseUrl, stack.apiKey, 'status', taskId);
      expect(shown.code).toBe(0);
      expect(shown.stdout.toString()).toMatch(
        /waiting +waits for a runner \(NO_RUNNER_ONLINE\): no runner is online: start a runner/,
      );
      expect((await health()).status).toBe('ok');

      await startRunner(stack.runnerId);
      await waitForTicket(stack.apiKey, ticketId, 'SUCCEEDED');
      expect((await task(stack.apiKey, taskId)).waiting).toBeNull();
      const row = await stack.env.prisma.task.findUniqueOrThrow({ where: { id: taskId } });
      expect([row.waitingReason, row.waitingSince]).toEqual([null, null]);
      expect((await health()).runners).toEqual({ online: 1, pools: { shared: 1 } });
      // Never said again after the runner took it.
      const after = stream.events.filter(
        (e) => e.type === 'task.waiting' && e.data.taskId === taskId && e.data.waiting,
      );
      expect(after).toHaveLength(1);
    } finally {
      await stream.close();
    }
  });

  it("says a project's own pool has no runner while only shared ones are online; submit --wait prints it", async () => {
    const file = join(scratch, 'team-w.json');
    await writeFile(
      file,
      JSON.stringify({ title: 'own pool', tasks: [{ key: 'build', steps: [{ run: 'true' }] }] }),
    );
    const stream = await EventStreamClient.connect(
      `${stack.baseUrl.replace('http', 'ws')}/events`,
      adminW,
    );
    const cli = spawnDrover(
      ['ignore', 'pipe', 'pipe'],
      stack.baseUrl,
      adminW,
      'submit',
      file,
      '--wait',
    );
    const exited = new Promise<number | null>((resolve) => cli.on('close', resolve));
    try {
      const printed = await untilPrinted(
        cli,
        /waits for a runner \(NO_RUNNER_IN_POOL\)/,
        'reason line',
      );
      expect(printed).toMatch(
        /task build waits for a runner \(NO_RUNNER_IN_POOL\): no runner of project team-w's own pool is online: start a runner with RUNNER_PROJECT=team-w/,
      );
      const event = await stream.waitForEvent(
        (e) => e.type === 'task.waiting' && e.data.waiting?.reason === 'NO_RUNNER_IN_POOL',
        'the event of the wait',
        15_000,
      );
      if (event.type !== 'task.waiting') throw new Error('not a task.waiting event');
      expect((await task(adminW, event.data.taskId)).waiting?.reason).toBe('NO_RUNNER_IN_POOL');
      expect((await health()).runners).toEqual({ online: 1, pools: { shared: 1 } });

      await startRunner('team-w-runner', 'team-w');
      expect(await exited).toBe(0);
      expect((await task(adminW, event.data.taskId)).waiting).toBeNull();
      expect((await health()).runners).toEqual({
        online: 2,
        pools: { shared: 1, 'project:team-w': 1 },
      });
    } finally {
      cli.kill();
      await stream.close();
    }
  });
});
