import { waitFor } from '@drover/testing';
import { ApiKeys, DEFAULT_PROJECT } from '@drover/workflow';
import { drover } from './support/cli';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// A failed step runs again as a new attempt, its blocked dependent with it, and
// the ticket settles again; the first run stays as history.

let stack: InProcessStack;

beforeAll(async () => {
  stack = await startInProcessStack({ SCHEDULER_POLL_MS: '50' });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

interface Task {
  id: string;
  key: string;
  status: string;
  runs: { attempt: number; status: string }[];
}
interface Ticket {
  id: string;
  status: string;
  tasks: { id: string; key: string; status: string }[];
}

const post = (path: string, key = stack.apiKey) => stack.request(key, 'POST', path, {});
const get = async <T>(path: string) => (await stack.request(stack.apiKey, 'GET', path)).body as T;

/** A ticket whose `build` fails on its first attempt (and passes on any later one); `ship` needs it. */
async function submitFailingOnce(title: string): Promise<Ticket> {
  const created = await stack.request(stack.apiKey, 'POST', '/tickets', {
    title,
    tasks: [
      {
        key: 'build',
        retry: { max_attempts: 1 },
        steps: [{ run: 'test "$DROVER_ATTEMPT" -ge 2' }],
      },
      { key: 'ship', depends_on: ['build'], steps: [{ run: 'true' }] },
    ],
  });
  expect(created).toMatchObject({ status: 201 });
  const id = (created.body as { id: string }).id;
  return settled(id, 'FAILED');
}

async function settled(ticketId: string, status: string): Promise<Ticket> {
  await waitFor(
    async () => (await get<Ticket>(`/tickets/${ticketId}`)).status === status,
    `ticket ${ticketId} to be ${status}`,
    60_000,
  );
  return get<Ticket>(`/tickets/${ticketId}`);
}

const taskOf = (ticket: Ticket, key: string) => ticket.tasks.find((t) => t.key === key)!;

describe('rerun', () => {
  it('reruns a failed task as attempt 2 with its blocked dependent; the ticket succeeds', async () => {
    const ticket = await submitFailingOnce('rerun a task');
    const build = taskOf(ticket, 'build');
    expect(build.status).toBe('FAILED');
    expect(taskOf(ticket, 'ship').status).toBe('BLOCKED');

    const viewer = await new ApiKeys(stack.env.prisma).issue({
      projectId: DEFAULT_PROJECT.id,
      name: 'rerun-viewer',
      role: 'viewer',
    });
    expect((await post(`/tasks/${build.id}/rerun`, viewer.key)).status).toBe(403);
    // A malformed id is refused as cancel refuses it (400, naming the path field).
    expect((await post('/tasks/not-a-uuid/rerun')).status).toBe(400);
    expect((await post(`/tasks/${crypto.randomUUID()}/rerun`)).status).toBe(404);

    const rerun = await post(`/tasks/${build.id}/rerun`);
    expect(rerun.status).toBe(200);
    expect((rerun.body as { rerun: { key: string; previous: string }[] }).rerun).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ key: 'build', previous: 'FAILED' }),
        expect.objectContaining({ key: 'ship', previous: 'BLOCKED' }),
      ]),
    );
    // Open again: a second rerun (or one racing it) is refused.
    const again = await post(`/tasks/${build.id}/rerun`);
    expect(again.status).toBe(409);
    expect((again.body as { error: { code: string } }).error.code).toBe('NOT_FINAL');

    const done = await settled(ticket.id, 'SUCCEEDED');
    expect(taskOf(done, 'ship').status).toBe('SUCCEEDED');
    const task = await get<Task>(`/tasks/${build.id}`);
    expect(task.runs.map((r) => [r.attempt, r.status])).toEqual([
      [1, 'FAILED'],
      [2, 'SUCCEEDED'],
    ]);
    expect((await post(`/tickets/${ticket.id}/rerun`)).status).toBe(409);
  }, 120_000);

  it('reruns a failed ticket', async () => {
    const ticket = await submitFailingOnce('rerun a ticket');
    const rerun = await post(`/tickets/${ticket.id}/rerun`);
    expect(rerun).toMatchObject({ status: 200, body: { ticket: { status: 'RUNNING' } } });
    expect((await post(`/tickets/${ticket.id}/rerun`)).status).toBe(409);
    await settled(ticket.id, 'SUCCEEDED');
  }, 120_000);

  it('asks for approval again when a gated task is rerun; the earlier approval does not carry over', async () => {
    const created = await stack.request(stack.apiKey, 'POST', '/tickets', {
      title: 'rerun a gated task',
      tasks: [
        {
          key: 'deploy',
          requires_approval: true,
          retry: { max_attempts: 1 },
          steps: [{ run: 'test "$DROVER_ATTEMPT" -ge 2' }],
        },
      ],
    });
    expect(created).toMatchObject({ status: 201 });
    const ticketId = (created.body as { id: string }).id;
    const awaiting = async () => {
      await waitFor(
        async () =>
          taskOf(await get<Ticket>(`/tickets/${ticketId}`), 'deploy').status ===
          'AWAITING_APPROVAL',
        'deploy to await approval',
        30_000,
      );
      return taskOf(await get<Ticket>(`/tickets/${ticketId}`), 'deploy');
    };
    const deploy = await awaiting();
    expect((await post(`/tasks/${deploy.id}/approve`)).status).toBe(200);
    await settled(ticketId, 'FAILED');

    expect((await post(`/tasks/${deploy.id}/rerun`)).status).toBe(200);
    expect((await awaiting()).status).toBe('AWAITING_APPROVAL');
    const approval = await stack.env.prisma.approval.findUniqueOrThrow({
      where: { taskId: deploy.id },
    });
    expect(approval.decision).toBeNull();
    expect((await post(`/tasks/${deploy.id}/approve`)).status).toBe(200);
    await settled(ticketId, 'SUCCEEDED');
  }, 120_000);

  it('drover rerun prints what it reran', async () => {
    const ticket = await submitFailingOnce('rerun from the CLI');
    const result = await drover(stack.baseUrl, stack.apiKey, 'rerun', taskOf(ticket, 'build').id);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    const out = result.stdout.toString('utf8');
    expect(out).toContain('rerun build (was FAILED)');
    expect(out).toContain('rerun ship (was BLOCKED)');
    await settled(ticket.id, 'SUCCEEDED');
    const refused = await drover(stack.baseUrl, stack.apiKey, 'rerun', ticket.id);
    expect(refused.code).not.toBe(0);
  }, 120_000);
});
