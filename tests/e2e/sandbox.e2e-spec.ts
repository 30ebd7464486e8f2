import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { dockerClient } from '@drover/execution';
import { sandboxTestImage, testGit, waitFor } from '@drover/testing';
import { DroverHttp } from './support/api';
import { useServices, type AppHandle } from './support/services';

// The runner's main job end to end, in containers: a ticket against a local git
// repository whose own test suite is the acceptance command, run by a runner on
// the container engine the Jest global setup provides (Podman's Docker API here).

function engineHost(): string {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  if (!host) throw new Error('no container engine for the sandbox e2e tests (see global setup)');
  return host;
}

const ArtifactsPage = z.object({
  items: z.array(z.object({ name: z.string(), kind: z.string(), size: z.number() })),
});

describe('sandboxed execution', () => {
  const { services: stack, logged } = useServices({
    runner: false,
    env: {
      RUNNER_SANDBOX: 'docker',
      DOCKER_HOST: engineHost(),
      RUNNER_IMAGE: sandboxTestImage(),
      RUNNER_ALLOW_LOCAL_REPOS: 'true',
    },
  });
  const http = () => new DroverHttp(stack().baseUrl, stack().apiKey);
  const docker = dockerClient(engineHost());
  const runners: AppHandle[] = [];
  let root: string;
  let source: string;

  const git = (cwd: string, ...args: string[]) => testGit(root, cwd, ...args);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'drover-sandbox-e2e-'));
    // A small project with a real test suite and a bug in it.
    source = join(root, 'calculator');
    await mkdir(join(source, 'src'), { recursive: true });
    await writeFile(join(source, 'src/add.sh'), '#!/bin/sh\necho $(( $1 - $2 ))\n');
    await writeFile(
      join(source, 'test.sh'),
      [
        '#!/bin/sh',
        'fail=0',
        'check() { got=$(sh src/add.sh "$1" "$2"); [ "$got" = "$3" ] || { echo "add $1 $2: expected $3, got $got"; fail=1; }; }',
        'check 2 3 5',
        'check 10 -4 6',
        'exit $fail',
        '',
      ].join('\n'),
    );
    await writeFile(join(source, '.gitignore'), '.tries\n');
    await git(source, 'init', '-q', '-b', 'main');
    await git(source, 'add', '-A');
    await git(source, 'commit', '-q', '-m', 'a calculator with a bug');
  });

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  afterEach(async () => {
    for (const runner of runners.splice(0)) {
      if (!runner.hasExited()) await stack().stopApp(runner);
    }
  });

  async function runner(runnerId?: string, env?: Record<string, string>): Promise<AppHandle> {
    const handle = await stack().startRunner({ runnerId, env });
    runners.push(handle);
    return handle;
  }

  const containersOf = (label: string) =>
    docker.listContainers({ all: true, filters: { label: [label] } });

  /** Submits a task that sleeps for two minutes; resolves once its container runs. */
  async function longTaskRunning(title: string): Promise<{ ticketId: string; label: string }> {
    const ticket = await http().submit({
      title,
      tasks: [{ key: 'long', steps: [{ run: 'echo working; sleep 120' }] }],
    });
    const running = await http().waitForTask(
      ticket.tasks[0].id,
      (t) => t.status === 'RUNNING',
      'RUNNING',
      30_000,
    );
    const label = `drover.run=${running.runs[0].id}`;
    await waitFor(async () => (await containersOf(label)).length === 1, 'its container', 30_000);
    return { ticketId: ticket.id, label };
  }

  it(
    'fixes a bug in a local repository: its test suite passes on the second try, the diff is kept and the branch pushed',
    logged(async () => {
      await runner();
      const ticket = await http().submit({
        title: 'e2e: fix add',
        tasks: [
          {
            key: 'fix-add',
            agent: 'command',
            repo: source,
            clone_branch: 'main',
            push_branch: 'drover/fix-add',
            // The first try only swaps the operands; the test output sends it back for a second.
            steps: [
              {
                run: [
                  'n=$(( $(cat .tries 2>/dev/null || echo 0) + 1 )); echo $n > .tries',
                  "if [ $n -eq 1 ]; then printf '#!/bin/sh\\necho $(( $2 - $1 ))\\n' > src/add.sh;",
                  "else printf '#!/bin/sh\\necho $(( $1 + $2 ))\\n' > src/add.sh; fi",
                ].join('\n'),
              },
            ],
            acceptance_commands: ['sh test.sh'],
            max_iterations: 3,
            allowed_paths: ['src/**'],
          },
        ],
      });
      const taskId = ticket.tasks[0].id;
      const task = await http().waitForTask(
        taskId,
        (t) => t.status === 'SUCCEEDED' || t.status === 'FAILED',
        'the task to end',
        90_000,
        200,
      );
      expect(task.status).toBe('SUCCEEDED');
      const runId = task.runs[0].id;

      const logs = (await http().logs(runId)).lines.map((l) => l.text);
      expect(logs).toContain('add 2 3: expected 5, got 1');
      expect(logs).toContain('iteration 2 of 3');

      const artifacts = await http().get(ArtifactsPage, `/runs/${runId}/artifacts`);
      expect(artifacts.items.map((a) => a.name).sort()).toEqual([
        'diff.patch',
        'iteration-1.log',
        'iteration-2.log',
        'result.json',
      ]);
      const diff = await fetch(`${stack().baseUrl}/runs/${runId}/diff`, {
        headers: { authorization: `Bearer ${stack().apiKey}` },
      });
      expect(diff.status).toBe(200);
      const patch = await diff.text();
      expect(patch).toContain('-echo $(( $1 - $2 ))');
      expect(patch).toContain('+echo $(( $1 + $2 ))');

      // The fix is on the branch in the source repository, and nothing else changed.
      expect(await git(source, 'show', 'drover/fix-add:src/add.sh')).toContain('$(( $1 + $2 ))');
      expect(await git(source, 'diff', '--name-only', 'main', 'drover/fix-add')).toBe(
        'src/add.sh\n',
      );
      expect(await containersOf(`drover.run=${runId}`)).toEqual([]);
    }),
    120_000,
  );

  it(
    'removes at start-up the containers a killed runner of the same id left behind',
    logged(async () => {
      // Without its watchdog, as when the machine goes down with the runner.
      const first = await runner(undefined, { RUNNER_CONTAINER_WATCHDOG: 'false' });
      const runnerId = first.runnerId as string;
      const { ticketId, label } = await longTaskRunning('e2e: left behind');

      await stack().killApp(first);
      // Killed, the runner could not remove its container.
      expect(await containersOf(label)).toHaveLength(1);

      // The restarted runner removes it before it takes work (the killed runner's registration
      // may still read ONLINE, so startRunner can return before the new one is up).
      await runner(runnerId);
      await waitFor(
        async () => (await containersOf(label)).length === 0,
        'the restarted runner to remove the container',
        30_000,
      );
      await http().post(`/tickets/${ticketId}/cancel`, {});
    }),
    120_000,
  );

  it(
    'removes the containers of a runner killed with SIGKILL within seconds (its watchdog)',
    logged(async () => {
      const doomed = await runner();
      const { ticketId, label } = await longTaskRunning('e2e: watchdog');

      await stack().killApp(doomed);
      const killedAt = Date.now();
      await waitFor(
        async () => (await containersOf(label)).length === 0,
        'the watchdog to remove the container',
        10_000,
      );
      process.stdout.write(`killed runner to its container removed: ${Date.now() - killedAt} ms\n`);
      await http().post(`/tickets/${ticketId}/cancel`, {});
    }),
    120_000,
  );

  it(
    'removes the containers of a frozen runner once its leases lapse, while it is still stopped',
    logged(async () => {
      const frozen = await runner();
      const { ticketId, label } = await longTaskRunning('e2e: frozen');
      const pid = frozen.pid as number;

      frozen.signal('SIGSTOP');
      const frozenAt = Date.now();
      // Its leases last 3 heartbeats (3 s) from the last one it sent; the watchdog
      // looks every 250 ms; the rest is a loaded machine and the engine's removal.
      await waitFor(
        async () => (await containersOf(label)).length === 0,
        'the watchdog to remove the frozen runner’s container',
        3_000 + 1_000 + 6_000,
      );
      process.stdout.write(`frozen runner to its container removed: ${Date.now() - frozenAt} ms\n`);
      // Still frozen: the watchdog did it, not a runner that woke up.
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      expect(stat.slice(stat.lastIndexOf(')') + 2)[0]).toBe('T');

      frozen.signal('SIGCONT');
      // Thawed, its run ends as one whose lease was lost, and the runner lives on.
      const task = await http().waitForTask(
        (await http().ticket(ticketId)).tasks[0].id,
        (t) => t.runs[0]?.status === 'FAILED',
        'run 1 to have failed',
        30_000,
      );
      expect([task.runs[0].status, task.runs[0].errorClass]).toEqual(['FAILED', 'RUNNER_LOST']);
      await waitFor(
        async () => (await http().runner(frozen.runnerId as string)).status === 'ONLINE',
        'the thawed runner to be ONLINE',
        10_000,
      );
      expect(frozen.hasExited()).toBe(false);
      await http().post(`/tickets/${ticketId}/cancel`, {});
    }),
    120_000,
  );
});
