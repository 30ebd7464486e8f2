import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { DockerDriver, dockerClient } from './docker-driver';
import type { CommandResult, SandboxCommand, SandboxDriver, SandboxLimits } from './sandbox-driver';
import { sandboxTestImage, waitFor } from '@drover/testing';

// Runs against the real engine the Jest global setup provides (Podman's Docker API
// here, Docker Engine elsewhere) with its busybox test image: user `sandbox`, uid 1000.

const IMAGE = sandboxTestImage();
const RUNNER = `test-${randomBytes(6).toString('hex')}`;
const LIMITS: SandboxLimits = {
  memoryBytes: 128 * 1024 * 1024,
  nanoCpus: 1_000_000_000,
  pids: 32,
  tmpfsBytes: 16 * 1024 * 1024,
};
const GRACE = 1_000;
/** What a loaded machine may add to a stop on top of the timeout and the grace period. */
const SLACK = 4_000;

interface Output {
  stdout: string[];
  stderr: string[];
}

function engineHost(): string {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  if (!host) {
    throw new Error(
      'DROVER_TEST_DOCKER_HOST is empty: no container engine for the Docker driver tests (install Podman or Docker; npm test installs Podman on a root machine with apt)',
    );
  }
  return host;
}

let docker: Docker;
let driver: DockerDriver;
let workspace: string;

beforeAll(() => {
  const host = engineHost();
  docker = dockerClient(host);
  driver = new DockerDriver({
    dockerHost: host,
    image: IMAGE,
    runnerId: RUNNER,
    limits: LIMITS,
    user: '1000:1000',
    killGraceMs: GRACE,
  });
});

beforeEach(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'drover-docker-driver-'));
  // The sandbox user (uid 1000) writes here; the runner chowns its workspaces instead.
  await chmod(workspace, 0o777);
});

/** The containers of this file's runner id: none may outlive a test. */
async function leftovers(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`drover.runner=${RUNNER}`] } });
}

afterEach(async () => {
  // Without an engine, beforeAll has failed every test already, saying why.
  if (!process.env.DROVER_TEST_DOCKER_HOST) return;
  await rm(workspace, { recursive: true, force: true });
  const left = await leftovers();
  await DockerDriver.reap(docker, RUNNER);
  expect(left.map((c) => `${c.Id.slice(0, 12)} ${c.State}`)).toEqual([]);
});

async function run(
  command: SandboxCommand,
  {
    signal = new AbortController().signal,
    using = driver,
  }: { signal?: AbortSignal; using?: SandboxDriver } = {},
): Promise<CommandResult & Output & { elapsedMs: number }> {
  const output: Output = { stdout: [], stderr: [] };
  const started = Date.now();
  const result = await using.exec(workspace, command, (s, t) => output[s].push(t), signal);
  return { ...result, ...output, elapsedMs: Date.now() - started };
}

describe(DockerDriver.name, () => {
  it('declares itself as the isolated docker driver, and the engine as available', async () => {
    expect(driver.name).toBe('docker');
    expect(driver.isolated).toBe(true);
    expect(await DockerDriver.available(docker)).toBe(true);
    expect(await DockerDriver.available(dockerClient('unix:///nonexistent/engine.sock'))).toBe(
      false,
    );
  });

  describe('output and results', () => {
    it('streams stdout and stderr lines separately and in order', async () => {
      const result = await run({
        script: 'echo out1; echo err1 >&2; echo out2; echo err2 >&2; printf partial',
      });
      expect(result).toMatchObject({ exitCode: 0, signal: null, timedOut: false, aborted: false });
      expect(result.stdout).toEqual(['out1', 'out2', 'partial']);
      expect(result.stderr).toEqual(['err1', 'err2']);
    });

    it('delivers lines as they are written, before the command ends', async () => {
      const seen: number[] = [];
      const started = Date.now();
      const result = await driver.exec(
        workspace,
        { script: 'echo first; sleep 2; echo second' },
        () => seen.push(Date.now() - started),
        new AbortController().signal,
      );
      expect(result.exitCode).toBe(0);
      expect(seen).toHaveLength(2);
      expect(seen[1] - seen[0]).toBeGreaterThan(1_500);
    });

    it('splits long output into whole lines, multi-byte characters intact', async () => {
      const result = await run({ script: 'seq 20000; printf "h\\303\\251\\n" >&2' });
      expect(result.stdout).toEqual(Array.from({ length: 20_000 }, (_, i) => String(i + 1)));
      expect(result.stderr).toEqual(['hé']);
    });

    it('passes a nonzero exit code through', async () => {
      const result = await run({ script: 'echo bye; exit 3' });
      expect(result).toMatchObject({ exitCode: 3, signal: null, timedOut: false, aborted: false });
      expect(result.stdout).toEqual(['bye']);
    });

    it('reports the signal that killed the command', async () => {
      const result = await run({ script: 'kill -9 $$' });
      expect(result.exitCode).toBeNull();
      expect(result.signal).toBe('SIGKILL');
    });

    it('ends when the command exits, killing what it left running', async () => {
      const result = await run({ script: 'sleep 30 & echo $!; exit 0' });
      expect(result.exitCode).toBe(0);
      expect(result.elapsedMs).toBeLessThan(10_000);
    });
  });

  describe('environment and working directory', () => {
    it('passes the command env and nothing of the runner environment', async () => {
      const name = `DROVER_TEST_SECRET_${process.pid}_${Date.now()}`;
      process.env[name] = 'runner-only';
      try {
        const result = await run({
          script: `echo "\${${name}-unset}"; echo "$GREETING"; env`,
          env: { GREETING: 'hello world', EMPTY: '' },
        });
        expect(result.stdout.slice(0, 2)).toEqual(['unset', 'hello world']);
        const keys = result.stdout.slice(2).map((line) => line.split('=')[0]);
        // What the engines add themselves (Podman: TERM and container too) and the shell's own.
        const engine = ['PATH', 'HOME', 'HOSTNAME', 'TERM', 'container', 'PWD', 'SHLVL'];
        const allowed = new Set([
          ...engine,
          'GREETING',
          'EMPTY',
          'DROVER_WORKSPACE',
          'DROVER_OUTPUT',
          'DROVER_REQUEST',
        ]);
        expect(keys.filter((k) => !allowed.has(k))).toEqual([]);
        expect(keys).toEqual(expect.arrayContaining(['GREETING', 'EMPTY', 'DROVER_WORKSPACE']));
      } finally {
        delete process.env[name];
      }
    });

    it('runs in /workspace by default and in a cwd inside it, which it tells the command', async () => {
      await mkdir(join(workspace, 'sub', 'dir'), { recursive: true });
      const top = await run({ script: 'pwd; echo "$DROVER_WORKSPACE"' });
      expect(top.stdout).toEqual(['/workspace', '/workspace']);
      const sub = await run({
        script: 'pwd; echo "$PATH"; echo "$DROVER_WORKSPACE"',
        cwd: 'sub/dir',
        env: { PATH: '/bin', DROVER_WORKSPACE: '/elsewhere' },
      });
      expect(sub.stdout).toEqual(['/workspace/sub/dir', '/bin', '/workspace']);
    });

    it.each(['..', '../x', 'sub/../..', '/etc', '/', '/workspace-evil'])(
      'refuses the cwd %j that leaves the workspace, without running anything',
      async (cwd) => {
        await expect(run({ script: 'touch ran', cwd })).rejects.toThrow('leaves the workspace');
        expect(existsSync(join(workspace, 'ran'))).toBe(false);
      },
    );

    it('refuses a cwd that does not exist rather than have the engine create it', async () => {
      await expect(run({ script: 'true', cwd: 'missing' })).rejects.toThrow();
      expect(existsSync(join(workspace, 'missing'))).toBe(false);
    });
  });

  describe('isolation', () => {
    it('sees the workspace at /workspace and writes there', async () => {
      await writeFile(join(workspace, 'in.txt'), 'from the host\n');
      const result = await run({
        script: 'cat /workspace/in.txt; echo "from the sandbox" > out.txt',
      });
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toEqual(['from the host']);
      expect(await readFile(join(workspace, 'out.txt'), 'utf8')).toBe('from the sandbox\n');
    });

    it('cannot write the root filesystem, only /tmp', async () => {
      const result = await run({
        script:
          'touch /home/sandbox/x 2>/dev/null && echo wrote-home; touch /x 2>/dev/null && echo wrote-root; echo t > /tmp/t && cat /tmp/t',
      });
      expect(result.stdout).toEqual(['t']);
    });

    it('has no network interface but loopback', async () => {
      const result = await run({ script: 'ls /sys/class/net' });
      expect(result.stdout).toEqual(['lo']);
    });

    it('cannot fork beyond the pids limit', async () => {
      // The inner shell dies at its first failed fork; every "started" is a live sleep.
      const result = await run({
        script: `sh -c 'for i in $(seq 200); do sleep 5 & echo started; done' 2>/dev/null; echo done`,
      });
      const started = result.stdout.filter((line) => line === 'started').length;
      expect(started).toBeGreaterThan(0);
      expect(started).toBeLessThan(LIMITS.pids + 3);
      expect(result.stdout.at(-1)).toBe('done');
    });

    it('has a process killed when it goes over the memory limit, not under it', async () => {
      // dd allocates its block size at once: 64 MiB fits the 128 MiB limit, 200 MiB does not.
      const dd = (size: string) =>
        `dd if=/dev/zero of=/dev/null bs=${size} count=1 2>/dev/null; echo $?`;
      expect((await run({ script: dd('64M') })).stdout).toEqual(['0']);
      // 137: killed by SIGKILL, from the kernel's out-of-memory killer.
      expect((await run({ script: dd('200M') })).stdout).toEqual(['137']);
    });

    it('cannot fill /tmp past its size', async () => {
      const result = await run({
        script: 'dd if=/dev/zero of=/tmp/big bs=1M count=32 2>/dev/null; echo $?; wc -c < /tmp/big',
      });
      expect(result.stdout).toEqual(['1', String(LIMITS.tmpfsBytes)]);
    });

    it('cannot see host files outside the workspace', async () => {
      const marker = join(tmpdir(), `drover-marker-${randomBytes(4).toString('hex')}`);
      await writeFile(marker, 'host only');
      try {
        const result = await run({ script: `cat ${marker} 2>/dev/null || echo absent` });
        expect(result.stdout).toEqual(['absent']);
      } finally {
        await rm(marker, { force: true });
      }
    });

    it('runs as the given user, else as the image user (root in the test image) without capabilities', async () => {
      expect((await run({ script: 'id -u; id -g' })).stdout).toEqual(['1000', '1000']);
      const imageUser = new DockerDriver({
        docker,
        image: IMAGE,
        runnerId: RUNNER,
        limits: LIMITS,
      });
      // Root without a capability, and unable to gain one.
      const root = await run(
        { script: 'id -u; grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status' },
        { using: imageUser },
      );
      expect(root.stdout).toEqual([
        '0',
        'CapEff:\t0000000000000000',
        'CapBnd:\t0000000000000000',
        'NoNewPrivs:\t1',
      ]);
    });

    it('applies the hardening and the labels, which cannot replace the driver own', async () => {
      const labelled = driver.withLabels({ 'drover.run': 'run-1', 'drover.runner': 'someone' });
      const pending = run({ script: 'sleep 2' }, { using: labelled });
      let found: Docker.ContainerInfo[] = [];
      await waitFor(async () => {
        found = await docker.listContainers({ filters: { label: ['drover.run=run-1'] } });
        return found.length === 1;
      }, 'the labelled container');
      const info = await docker.getContainer(found[0].Id).inspect();
      await pending;
      expect(info.Config.Labels).toMatchObject({
        'drover.run': 'run-1',
        'drover.runner': RUNNER,
        'drover.managed': 'true',
      });
      expect(info.Config.User).toBe('1000:1000');
      expect(info.HostConfig).toMatchObject({
        ReadonlyRootfs: true,
        NetworkMode: 'none',
        Memory: LIMITS.memoryBytes,
        NanoCpus: LIMITS.nanoCpus,
        PidsLimit: LIMITS.pids,
      });
    });
  });

  describe('stopping', () => {
    it('kills a command that ignores SIGTERM on timeout', async () => {
      const timeoutMs = 500;
      const result = await run({ script: "trap '' TERM; sleep 30", timeoutMs });
      expect(result).toMatchObject({
        exitCode: null,
        signal: 'SIGKILL',
        timedOut: true,
        aborted: false,
      });
      expect(result.elapsedMs).toBeGreaterThanOrEqual(timeoutMs + GRACE);
      expect(result.elapsedMs).toBeLessThan(timeoutMs + GRACE + SLACK);
    });

    it('stops a command that honours SIGTERM without waiting for the grace period', async () => {
      const result = await run({ script: 'sleep 30 & sleep 30', timeoutMs: 500 });
      expect(result).toMatchObject({ exitCode: null, signal: 'SIGTERM', timedOut: true });
    });

    it('kills the command and reports aborted when the signal aborts', async () => {
      const controller = new AbortController();
      let abortedAt = 0;
      const started = Date.now();
      const result = await driver.exec(
        workspace,
        { script: "trap '' TERM; echo started; sleep 30" },
        (_, text) => {
          if (text !== 'started') return;
          abortedAt = Date.now();
          controller.abort();
        },
        controller.signal,
      );
      expect(result).toMatchObject({
        exitCode: null,
        signal: 'SIGKILL',
        timedOut: false,
        aborted: true,
      });
      expect(abortedAt).toBeGreaterThan(0);
      expect(Date.now() - abortedAt).toBeLessThan(GRACE + SLACK);
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('runs nothing when the signal is already aborted', async () => {
      const controller = new AbortController();
      controller.abort();
      const result = await run({ script: 'touch ran; sleep 30' }, { signal: controller.signal });
      expect(result).toEqual(
        expect.objectContaining({ exitCode: null, signal: null, timedOut: false, aborted: true }),
      );
      expect(existsSync(join(workspace, 'ran'))).toBe(false);
    });

    it('does not start the command when aborted while its container is created', async () => {
      const controller = new AbortController();
      // The real engine, with the abort landing while the container is being created.
      const client = Object.assign(Object.create(docker) as Docker, {
        createContainer: (options: Docker.ContainerCreateOptions) => {
          controller.abort();
          return docker.createContainer(options);
        },
      });
      const aborting = new DockerDriver({
        docker: client,
        image: IMAGE,
        runnerId: RUNNER,
        limits: LIMITS,
      });
      const result = await run(
        { script: 'touch ran' },
        { signal: controller.signal, using: aborting },
      );
      expect(result).toMatchObject({ exitCode: null, signal: null, aborted: true });
      expect(existsSync(join(workspace, 'ran'))).toBe(false);
    });
  });

  describe('engine failures and leftovers', () => {
    it('rejects when the image is missing, leaving nothing behind', async () => {
      const missing = new DockerDriver({
        docker,
        image: 'localhost/drover-no-such-image:0',
        runnerId: RUNNER,
        limits: LIMITS,
      });
      await expect(run({ script: 'true' }, { using: missing })).rejects.toThrow(
        'not on the engine',
      );
    });

    it('removes the containers of a runner killed mid-command within seconds (its watchdog)', async () => {
      // A stand-in runner: a process that runs a command through the driver, then dies by SIGKILL.
      const root = join(__dirname, '../../..');
      const script = join(workspace, 'runner.ts');
      const settings = { dockerHost: engineHost(), image: IMAGE, runnerId: RUNNER, limits: LIMITS };
      await writeFile(
        script,
        `import { DockerDriver } from ${JSON.stringify(join(__dirname, 'docker-driver'))};
         const driver = new DockerDriver({ ...${JSON.stringify(settings)}, watchdog: true });
         void driver.exec(${JSON.stringify(workspace)}, { script: 'sleep 60' }, () => undefined,
           new AbortController().signal);`,
      );
      // tsx as a loader, not its CLI: one process, so SIGKILL hits the driver's own process.
      const runner = spawn(process.execPath, ['--import', 'tsx', script], {
        cwd: root,
        env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.json') },
        stdio: 'ignore',
      });
      await waitFor(
        async () => (await leftovers()).some((c) => c.State === 'running'),
        'the container',
        30_000,
      );

      runner.kill('SIGKILL');
      const killedAt = Date.now();
      await waitFor(
        async () => (await leftovers()).length === 0,
        'the watchdog to remove it',
        10_000,
      );
      expect(Date.now() - killedAt).toBeLessThan(10_000);
    }, 60_000);

    it('reaps the containers a killed runner left behind, and only those', async () => {
      const other = `${RUNNER}-other`;
      const create = (runnerId: string) =>
        docker.createContainer({
          Image: IMAGE,
          Cmd: ['sleep', '300'],
          Labels: { 'drover.runner': runnerId, 'drover.managed': 'true' },
          HostConfig: { NetworkMode: 'none' },
        });
      const mine = [await create(RUNNER), await create(RUNNER)];
      const theirs = await create(other);
      try {
        await mine[0].start();
        await mine[1].start();
        expect(await leftovers()).toHaveLength(2);
        expect(await DockerDriver.reap(docker, RUNNER)).toBe(2);
        expect(await leftovers()).toEqual([]);
        expect(await DockerDriver.reap(docker, RUNNER)).toBe(0);
        const kept = await docker.listContainers({
          all: true,
          filters: { label: [`drover.runner=${other}`] },
        });
        expect(kept.map((c) => c.Id)).toEqual([theirs.id]);
      } finally {
        await DockerDriver.reap(docker, other);
      }
    });
  });
});
