import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxTestImage, waitFor } from '@drover/testing';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// Resource ceilings at both ends: the control plane's (DROVER_MAX_TASK_*)
// refuses a ticket at submission; a runner's own (RUNNER_MAX_*) refuses a run
// the control plane let through, here for disk_mb, which it sets no ceiling on.
// The runner sandboxes in containers, so it bounds each workspace's disk.

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}
interface Task {
  id: string;
  status: string;
  runs: { status: string; errorClass: string | null; errorMessage: string | null }[];
}

let stack: InProcessStack;

beforeAll(async () => {
  stack = await startInProcessStack({
    DROVER_MAX_TASK_MEMORY_MB: '8192',
    DROVER_MAX_TASK_CPUS: '4',
    DROVER_MAX_TASK_PIDS: '1024',
    DROVER_MAX_TASK_TMPFS_MB: '1024',
    RUNNER_MAX_DISK_MB: '512',
    RUNNER_DISK_MB: '256',
    RUNNER_SANDBOX: 'docker',
    DOCKER_HOST: process.env.DROVER_TEST_DOCKER_HOST ?? '',
    RUNNER_IMAGE: sandboxTestImage() ?? '',
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function call(path: string, init: RequestInit = {}, key = stack.apiKey) {
  const headers = {
    authorization: `Bearer ${key}`,
    ...(init.headers as Record<string, string> | undefined),
  };
  const res = await fetch(`${stack.baseUrl}${path}`, { ...init, headers });
  return { status: res.status, body: await res.json() };
}

const post = (path: string, body: unknown, key = stack.apiKey) =>
  call(
    path,
    { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
    key,
  );

const submit = (title: string, tasks: unknown[], key = stack.apiKey) =>
  post('/tickets', { title, tasks }, key);

describe('resource ceilings', () => {
  it('refuses at submission with 422 a ticket whose tasks ask above the ceilings, naming each field, and writes nothing', async () => {
    const before = await stack.env.prisma.task.count();
    const res = await submit('too much', [
      { key: 'fits', steps: [{ run: 'true' }], resources: { memory_mb: 8192, cpus: 4 } },
      {
        key: 'greedy',
        steps: [{ run: 'true' }],
        resources: { memory_mb: 262_144, pids: 65_536, tmpfs_mb: 65_536, cpus: 64 },
      },
    ]);
    expect(res.status).toBe(422);
    const { error } = res.body as ErrorBody;
    expect(error.code).toBe('RESOURCES_ABOVE_CEILING');
    expect(error.details).toEqual([
      { path: 'tasks.1.resources.memory_mb', message: '262144 is above the ceiling 8192' },
      { path: 'tasks.1.resources.cpus', message: '64 is above the ceiling 4' },
      { path: 'tasks.1.resources.pids', message: '65536 is above the ceiling 1024' },
      { path: 'tasks.1.resources.tmpfs_mb', message: '65536 is above the ceiling 1024' },
    ]);
    expect(error.message).toContain(
      'tasks.1.resources.memory_mb: 262144 is above the ceiling 8192',
    );
    expect(await stack.env.prisma.task.count()).toBe(before);
  });

  it("holds a project's tasks to its own lower ceilings, which never lift the orchestrator's", async () => {
    const created = await post('/projects', {
      slug: 'small-sandboxes',
      name: 'Small sandboxes',
      max_resources: { memory_mb: 1024, cpus: 16 },
    });
    expect(created.status).toBe(201);
    const { project, key } = created.body as {
      project: { id: string; maxResources: unknown };
      key: { key: string };
    };
    expect(project.maxResources).toEqual({ memory_mb: 1024, cpus: 16 });
    const before = await stack.env.prisma.task.count();

    const res = await submit(
      'small project',
      [{ key: 'big', steps: [{ run: 'true' }], resources: { memory_mb: 2048, cpus: 8 } }],
      key.key,
    );
    expect(res.status).toBe(422);
    expect((res.body as ErrorBody).error.details).toEqual([
      { path: 'tasks.0.resources.memory_mb', message: '2048 is above the ceiling 1024' },
      // The project's 16 does not lift the orchestrator's 4.
      { path: 'tasks.0.resources.cpus', message: '8 is above the ceiling 4' },
    ]);
    expect(await stack.env.prisma.task.count()).toBe(before);
  });

  it('refuses a project whose own ceilings are not resources', async () => {
    const res = await post('/projects', {
      slug: 'bad-ceilings',
      name: 'Bad',
      max_resources: { memory_mb: 1, gpus: 2 },
    });
    expect(res.status).toBe(422);
    expect((res.body as ErrorBody).error.details).toEqual([
      { path: 'body.max_resources.memory_mb', message: 'Too small: expected number to be >=16' },
      { path: 'body.max_resources.gpus', message: 'unknown field' },
    ]);
    expect(await stack.env.prisma.project.count({ where: { slug: 'bad-ceilings' } })).toBe(0);
  });

  it("ends INVALID_SPEC, never retried, a run asking above the runner's own ceiling", async () => {
    const res = await submit('big disk', [
      { key: 'disk', steps: [{ run: 'echo the step ran' }], resources: { disk_mb: 1024 } },
    ]);
    expect(res.status).toBe(201);
    const task = await failed(res.body);
    expect(task.runs).toHaveLength(1);
    expect(task.runs[0]).toMatchObject({
      errorClass: 'INVALID_SPEC',
      errorMessage:
        "resources.disk_mb: 1024 is above this runner's ceiling 512 (RUNNER_MAX_DISK_MB)",
    });
  }, 40_000);

  it('ends POLICY_VIOLATION, never retried, a run that writes past its disk_mb', async () => {
    const res = await submit('fills its disk', [
      {
        key: 'fill',
        steps: [{ run: 'dd if=/dev/zero of=/workspace/big bs=1M count=100' }],
        resources: { disk_mb: 32 },
      },
    ]);
    expect(res.status).toBe(201);
    const task = await failed(res.body);
    expect(task.runs).toHaveLength(1);
    expect(task.runs[0]).toMatchObject({
      errorClass: 'POLICY_VIOLATION',
      errorMessage: 'the workspace is over its disk quota of 32 MiB (disk_mb)',
    });
    // Unmounted once the run has reported (the stack's runner keeps its runs here).
    const runs = join(tmpdir(), 'drover-in-process', stack.env.subjectPrefix);
    await waitFor(
      async () => !(await readFile('/proc/self/mountinfo', 'utf8')).includes(runs),
      "the run's filesystem to be unmounted",
      10_000,
    );
  }, 40_000);
});

/** The only task of a ticket just created, once it has FAILED. */
async function failed(ticket: unknown): Promise<Task> {
  const [created] = (ticket as { tasks: { id: string }[] }).tasks;
  return waitFor(
    async () => {
      const { body } = await call(`/tasks/${created.id}`);
      const task = body as Task;
      return task.status === 'FAILED' ? task : undefined;
    },
    'the task to fail',
    30_000,
  );
}
