import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import {
  TaskSpec,
  type ArtifactInfo,
  type LogLine,
  type ResourceCeilings,
  type RunDispatched,
} from '@drover/contracts';
import { LocalArtifactStore } from '@drover/storage';
import { sandboxTestImage, testGit } from '@drover/testing';
import type { AgentOutcome } from './command-agent';
import { LoopDiskQuota } from './disk-quota';
import { DockerDriver, dockerClient } from './docker-driver';
import { RunExecutor, type RunReporter } from './run-executor';

// A runner's ceilings and workspace disk quota, for real: the container engine
// the Jest global setup provides (Podman's Docker API here), its busybox test
// image, and ext4 filesystems on loop devices (these tests run as root).

const RUNNER = `limits-${randomUUID().slice(0, 8)}`;
const MB = 1024 * 1024;
const exec = promisify(execFile);

const CEILINGS: ResourceCeilings = {
  memory_mb: 512,
  cpus: 1,
  pids: 128,
  tmpfs_mb: 64,
  disk_mb: 256,
};

let root: string;
let docker: Docker;
let driver: DockerDriver;
let store: LocalArtifactStore;

/** What the executor reported; `onLine` sees each line as it arrives, mid-run. */
class Reports implements RunReporter {
  lines: LogLine[] = [];
  outcome: AgentOutcome | undefined;
  constructor(
    private readonly onLine: (line: LogLine) => Promise<void> = () => Promise.resolve(),
  ) {}
  async log(_work: RunDispatched, _first: number, lines: LogLine[]): Promise<void> {
    this.lines.push(...lines);
    for (const line of lines) await this.onLine(line);
  }
  artifact(_work: RunDispatched, _artifact: ArtifactInfo): Promise<void> {
    return Promise.resolve();
  }
  finished(_work: RunDispatched, outcome: AgentOutcome): Promise<void> {
    this.outcome = outcome;
    return Promise.resolve();
  }
  stdout(): string[] {
    return this.lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
  }
}

beforeAll(async () => {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  const image = sandboxTestImage();
  if (!host || !image) {
    throw new Error(
      'no container engine or sandbox image for these tests (see the Jest global setup)',
    );
  }
  docker = dockerClient(host);
  driver = new DockerDriver({
    docker,
    image,
    runnerId: RUNNER,
    user: '1000:1000',
    limits: { memoryBytes: 256 * MB, nanoCpus: 1e9, pids: 64, tmpfsBytes: 16 * MB },
    killGraceMs: 1_000,
  });
  root = await mkdtemp(join(tmpdir(), 'drover-limits-'));
  store = new LocalArtifactStore(join(root, 'artifacts'));
}, 60_000);

afterAll(async () => {
  await LoopDiskQuota.unmountAll(root);
  await rm(root, { recursive: true, force: true });
});

afterEach(async () => {
  await DockerDriver.reap(docker, RUNNER);
});

function work(spec: Partial<TaskSpec>): RunDispatched {
  return {
    runId: randomUUID(),
    taskId: randomUUID(),
    ticketId: randomUUID(),
    attempt: 1,
    leaseToken: randomUUID(),
    agent: 'command',
    spec: TaskSpec.parse(spec),
    timeoutMs: 120_000,
  };
}

function executor(reports: Reports): RunExecutor {
  return new RunExecutor({
    workdir: join(root, 'runs'),
    driver,
    reporter: reports,
    artifacts: store,
    sources: { allowLocal: true, allowPrivateHosts: false },
    providerEnv: {},
    gitTimeoutMs: 60_000,
    logFlushMs: 20,
    keepWorkspaces: false,
    ceilings: CEILINGS,
    disk: new LoopDiskQuota(128, images()),
  });
}

/** Where this runner keeps its filesystem images. */
const images = () => join(root, 'runs', 'disks', RUNNER);

/** Mount points under the runner's workdir, from this process's mount table. */
async function mountsUnderWorkdir(workdir = join(root, 'runs')): Promise<string[]> {
  const table = await readFile('/proc/self/mountinfo', 'utf8');
  const prefix = `${workdir}/`;
  return table
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((point) => point.startsWith(prefix));
}

describe('RunExecutor with resource ceilings', () => {
  it.each([
    ['memory_mb', { memory_mb: 1024 }, '1024', '512', 'RUNNER_MAX_MEMORY_MB'],
    ['pids', { pids: 65_536 }, '65536', '128', 'RUNNER_MAX_PIDS'],
    ['cpus', { cpus: 64 }, '64', '1', 'RUNNER_MAX_CPUS'],
    ['tmpfs_mb', { tmpfs_mb: 65_536 }, '65536', '64', 'RUNNER_MAX_TMPFS_MB'],
    ['disk_mb', { disk_mb: 1024 }, '1024', '256', 'RUNNER_MAX_DISK_MB'],
  ])(
    'refuses a task asking for %s above the ceiling INVALID_SPEC, running nothing',
    async (field, resources, asked, ceiling, setting) => {
      const reports = new Reports();
      const outcome = await executor(reports).execute(
        work({ steps: [{ run: 'echo the step ran' }], resources }),
        new AbortController().signal,
      );
      expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'INVALID_SPEC' });
      expect(outcome.errorMessage).toBe(
        `resources.${field}: ${asked} is above this runner's ceiling ${ceiling} (${setting})`,
      );
      expect(reports.stdout()).toEqual([]);
      expect(await mountsUnderWorkdir()).toEqual([]);
    },
    60_000,
  );

  it('runs a task asking for every resource at its ceiling exactly', async () => {
    const reports = new Reports();
    const outcome = await executor(reports).execute(
      work({ steps: [{ run: 'echo the step ran' }], resources: CEILINGS }),
      new AbortController().signal,
    );
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', errorClass: null });
    expect(reports.stdout()).toEqual(['the step ran']);
  }, 60_000);
});

describe('RunExecutor with a workspace disk quota', () => {
  it('ends a run that writes past disk_mb POLICY_VIOLATION, never filling the host, and leaves no filesystem behind', async () => {
    const workdir = join(root, 'runs');
    const hostFreeBefore = await freeBytes(tmpdir());
    let during: { image: number; hostDrop: number } | undefined;
    const dispatched = work({
      steps: [
        {
          run: [
            'df -k /workspace | tail -1',
            'dd if=/dev/zero of=/workspace/big bs=1M count=200; s=$?',
            // Holds the run while the test looks at the host; the test needs milliseconds.
            'echo measure-now; sleep 3',
            'exit $s',
          ].join('\n'),
        },
      ],
      resources: { disk_mb: 64 },
    });
    const reports = new Reports(async (line) => {
      if (line.text !== 'measure-now') return;
      const name = (await readdir(images())).find((n) => n.endsWith('.disk.img'));
      if (!name) throw new Error('the run has no filesystem image while it runs');
      during = {
        image: (await stat(join(images(), name))).blocks * 512,
        hostDrop: hostFreeBefore - (await freeBytes(tmpdir())),
      };
    });
    const outcome = await executor(reports).execute(dispatched, new AbortController().signal);

    expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'POLICY_VIOLATION' });
    expect(outcome.errorMessage).toBe('the workspace is over its disk quota of 64 MiB (disk_mb)');
    const [df] = reports.stdout();
    const size = Number(df.trim().split(/\s+/)[1]);
    // df inside shows the run's own filesystem, not the host's: 64 MiB less ext4's own.
    expect(size).toBeGreaterThan(0.9 * 64 * 1024);
    expect(size).toBeLessThanOrEqual(64 * 1024);
    expect(reports.lines.map((l) => l.text).join('\n')).toMatch(/No space left on device/);
    expect(during).toBeDefined();
    expect(during?.image).toBeLessThanOrEqual(65 * MB);
    expect(during?.hostDrop).toBeLessThan(150 * MB);
    // Gone with the run: the mount, the image and its loop device.
    expect(await mountsUnderWorkdir()).toEqual([]);
    expect((await readdir(images())).filter((n) => n.endsWith('.disk.img'))).toEqual([]);
    const { stdout: loops } = await exec('losetup', ['-a']);
    expect(loops).not.toContain(workdir);
  }, 90_000);

  it('gives a run the default size when its task asks for none, and succeeds within it', async () => {
    const reports = new Reports();
    const outcome = await executor(reports).execute(
      work({
        steps: [
          { run: 'df -k /workspace | tail -1; dd if=/dev/zero of=f bs=1M count=8 2>/dev/null' },
        ],
      }),
      new AbortController().signal,
    );
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED' });
    const size = Number(reports.stdout()[0].trim().split(/\s+/)[1]);
    expect(size).toBeGreaterThan(0.9 * 128 * 1024);
    expect(size).toBeLessThanOrEqual(128 * 1024);
  }, 60_000);
});

describe(LoopDiskQuota.name, () => {
  it("unmounts and deletes at start what a killed runner of its id left, and not another runner's", async () => {
    const workdir = join(root, 'shared-workdir');
    const killed = new LoopDiskQuota(32, join(workdir, 'disks', 'runner-a'));
    const other = new LoopDiskQuota(32, join(workdir, 'disks', 'runner-b'));
    const left = join(workdir, 'run-left');
    const running = join(workdir, 'run-running');
    await mkdir(left, { recursive: true });
    await mkdir(running, { recursive: true });
    // Mounted and never released: runner-a died; runner-b's run is going on.
    await killed.mount(left);
    const volume = await other.mount(running);
    expect((await mountsUnderWorkdir(workdir)).sort()).toEqual([left, running]);

    // runner-a, restarted.
    expect(await new LoopDiskQuota(32, join(workdir, 'disks', 'runner-a')).reap(workdir)).toBe(1);
    expect(await mountsUnderWorkdir(workdir)).toEqual([running]);
    expect(await readdir(join(workdir, 'disks', 'runner-a'))).toEqual([]);
    expect(await readdir(join(workdir, 'disks', 'runner-b'))).toEqual(['run-running.disk.img']);
    const { stdout: loops } = await exec('losetup', ['-a']);
    expect(loops).not.toContain('runner-a');
    await volume.release(false);
  });

  it("clones, runs the acceptance and pushes a repository on the run's own filesystem", async () => {
    const source = join(root, 'source');
    const git = (...args: string[]) => testGit(root, source, ...args);
    await mkdir(source, { recursive: true });
    await git('init', '-q', '-b', 'main');
    await writeFile(join(source, 'test.sh'), 'grep -q 42 answer.txt\n');
    await git('add', '-A');
    await git('commit', '-q', '-m', 'initial');
    const reports = new Reports();
    const outcome = await executor(reports).execute(
      work({
        repo: source,
        steps: [{ run: 'echo 42 > answer.txt' }],
        acceptance_commands: ['sh test.sh'],
        push_branch: 'drover/limits',
        resources: { disk_mb: 32 },
      }),
      new AbortController().signal,
    );
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', errorClass: null });
    expect(await git('show', 'drover/limits:answer.txt')).toBe('42\n');
  }, 60_000);
});

async function freeBytes(path: string): Promise<number> {
  const fs = await statfs(path);
  return fs.bavail * fs.bsize;
}
