import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type Docker from 'dockerode';
import { processGone, sandboxTestImage, waitFor } from '@drover/testing';
import { DockerDriver, dockerClient } from './docker-driver';

// A stand-in runner process drives the real DockerDriver, its real watchdog
// process and the real engine (Podman's Docker API here).

const IMAGE = sandboxTestImage();
const RUNNER = `test-${randomBytes(6).toString('hex')}`;
/** The stand-in's leases: renewed every RENEW_MS, each renewal good for LEASE_MS. */
const LEASE_MS = 3_000;
const RENEW_MS = 200;
/** The watchdog looks at the runner and its deadline at least this often. */
const TICK_MS = 1_000;
/** What a loaded machine may add to the watchdog's tick and the engine's removal. */
const SLACK = 4_000;
const LIMITS = {
  memoryBytes: 64 * 1024 * 1024,
  nanoCpus: 500_000_000,
  pids: 32,
  tmpfsBytes: 1 << 24,
};
const root = join(__dirname, '../../..');

let docker: Docker;
let workspace: string;
let runner: ChildProcess | undefined;

function engineHost(): string {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  if (!host) throw new Error('DROVER_TEST_DOCKER_HOST is empty: no container engine for this test');
  return host;
}

function containers(): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`drover.runner=${RUNNER}`] } });
}

/** The process's state letter from /proc (T: stopped by a signal). */
function stateOf(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2)[0];
}

/**
 * Starts a stand-in runner: it renews its leases every RENEW_MS (as each
 * successful heartbeat does) until SIGUSR2 (its heartbeats fail from then on),
 * and runs `sleep 300` in a container through the driver with its watchdog.
 */
async function startRunner(): Promise<ChildProcess> {
  const script = join(workspace, 'runner.ts');
  const settings = { dockerHost: engineHost(), image: IMAGE, runnerId: RUNNER, limits: LIMITS };
  await writeFile(
    script,
    `import { writeFileSync } from 'node:fs';
     import { DockerDriver } from ${JSON.stringify(join(__dirname, 'docker-driver'))};
     const driver = new DockerDriver({ ...${JSON.stringify(settings)}, watchdog: true });
     const renew = () => driver.holdLeasesUntil?.(Date.now() + ${LEASE_MS});
     renew();
     const renewing = setInterval(renew, ${RENEW_MS});
     process.on('SIGUSR2', () => clearInterval(renewing));
     // Alive until the test ends it, as a runner is: its exit must not be taken for the watchdog's work.
     setInterval(() => undefined, 60_000);
     const settled = (what: string) => writeFileSync(${JSON.stringify(join(workspace, 'settled'))}, what);
     driver.exec(${JSON.stringify(workspace)}, { script: 'sleep 300' }, () => undefined,
       new AbortController().signal).then(
         (result) => settled(JSON.stringify(result)),
         (error: Error) => settled(error.name),
       );`,
  );
  // tsx as a loader, not its CLI: one process, so signals hit the driver's own process.
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: root,
    env: { ...process.env, TSX_TSCONFIG_PATH: join(root, 'tsconfig.json') },
    stdio: 'ignore',
  });
  await waitFor(
    async () => (await containers()).some((c) => c.State === 'running'),
    'the stand-in runner to start its container',
    30_000,
  );
  return child;
}

beforeAll(() => {
  docker = dockerClient(engineHost());
});

beforeEach(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'drover-watchdog-'));
  await chmod(workspace, 0o777);
});

afterEach(async () => {
  if (runner?.pid && !processGone(runner.pid)) {
    runner.kill('SIGKILL');
    await waitFor(() => processGone(runner?.pid as number), 'the stand-in runner to exit');
  }
  runner = undefined;
  await rm(workspace, { recursive: true, force: true });
  if (process.env.DROVER_TEST_DOCKER_HOST) await DockerDriver.reap(docker, RUNNER);
});

describe('container watchdog', () => {
  it('removes the containers of a frozen runner once its leases lapse, while it is still stopped', async () => {
    runner = await startRunner();
    const pid = runner.pid as number;

    runner.kill('SIGSTOP');
    const frozenAt = Date.now();
    await waitFor(() => stateOf(pid) === 'T', 'the stand-in runner to stop');
    await waitFor(
      async () => (await containers()).length === 0,
      'the watchdog to remove the frozen runner’s container',
      LEASE_MS + TICK_MS + SLACK,
    );

    expect(Date.now() - frozenAt).toBeLessThan(LEASE_MS + TICK_MS + SLACK);
    // Removed by the watchdog, not by a runner that woke up.
    expect(stateOf(pid)).toBe('T');
  }, 60_000);

  it('removes the containers of a live runner that stopped renewing its leases', async () => {
    runner = await startRunner();
    const pid = runner.pid as number;

    runner.kill('SIGUSR2');
    const lastRenewal = Date.now();
    await waitFor(
      async () => (await containers()).length === 0,
      'the watchdog to remove the container of a runner without leases',
      LEASE_MS + TICK_MS + SLACK,
    );

    expect(Date.now() - lastRenewal).toBeGreaterThanOrEqual(LEASE_MS - RENEW_MS);
    expect(processGone(pid)).toBe(false);
    // The command ends as one whose lease was lost, not as a failure of the engine.
    const settled = await waitFor(
      () => readFile(join(workspace, 'settled'), 'utf8').catch(() => undefined),
      'the command to end',
    );
    expect(settled).toBe('LeaseLapsedError');
  }, 60_000);

  it('leaves the containers of a runner that keeps renewing its leases', async () => {
    runner = await startRunner();
    const [container] = await containers();

    // Nothing to wait for: the container must still be there after two full
    // leases, which a watchdog that ignored the renewals would not have allowed.
    await delay(2 * LEASE_MS + TICK_MS);

    expect((await containers()).map((c) => [c.Id, c.State])).toEqual([[container.Id, 'running']]);
  }, 60_000);

  it('removes the containers of a killed runner at once, without waiting for its leases', async () => {
    runner = await startRunner();

    runner.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor(
      async () => (await containers()).length === 0,
      'the watchdog to remove the killed runner’s container',
      10_000,
    );

    expect(Date.now() - killedAt).toBeLessThan(LEASE_MS);
  }, 60_000);
});
