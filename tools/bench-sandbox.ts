// `npm run bench:sandbox -- [runs]`: what the sandbox costs on this machine's
// container engine, median of `runs` (default 10) after one warm-up, printed with
// the ratio to a bare container run on the same engine:
//   bare       create/start/wait/remove of `echo hi`, no hardening, no output read
//   first line DockerDriver.exec() of `echo hi` until its output line arrives
//   exec       the whole DockerDriver.exec() of `echo hi` (hardened, output streamed)
//   run        a whole RunExecutor run of a one-step `command` task (`echo hi`), no
//              repository: workspace, one container, logs, artifacts
//   repo run   a whole run of a `nop` task on a local git repository: clone, one
//              acceptance command in a container, diff, artifacts
//   process    ProcessDriver.exec() of `echo hi` (no container, for reference)
import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TaskSpec, type RunDispatched } from '@drover/contracts';
import {
  DockerDriver,
  dockerClient,
  ProcessDriver,
  RunExecutor,
  type RunReporter,
} from '@drover/execution';
import { LocalArtifactStore } from '@drover/storage';

const runs = Number(process.argv[2] ?? 10);
const never = new AbortController().signal;
const quiet: RunReporter = {
  log: () => Promise.resolve(),
  artifact: () => Promise.resolve(),
  finished: () => Promise.resolve(),
};

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

async function main(): Promise<void> {
  const [host, image] = execFileSync(process.execPath, [join(__dirname, 'lib/engine.mjs')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).split('\n');
  if (!host) throw new Error('no container engine');
  const docker = dockerClient(host);
  const runnerId = `bench-${randomUUID().slice(0, 8)}`;
  const driver = new DockerDriver({
    docker,
    image,
    runnerId,
    user: '1000:1000',
    limits: { memoryBytes: 512 * 2 ** 20, nanoCpus: 1e9, pids: 256, tmpfsBytes: 64 * 2 ** 20 },
  });
  const root = await mkdtemp(join(tmpdir(), 'drover-bench-sandbox-'));
  const workspace = join(root, 'workspace');
  await mkdir(workspace, { mode: 0o777 });
  const repo = join(root, 'repo');
  await mkdir(repo);
  await writeFile(join(repo, 'test.sh'), 'exit 0\n');
  const git = promisify(execFile);
  const gitEnv = {
    ...process.env,
    GIT_AUTHOR_NAME: 'b',
    GIT_AUTHOR_EMAIL: 'b@b',
    GIT_COMMITTER_NAME: 'b',
    GIT_COMMITTER_EMAIL: 'b@b',
  };
  await git('git', ['init', '-q', '-b', 'main'], { cwd: repo, env: gitEnv });
  await git('git', ['add', '-A'], { cwd: repo, env: gitEnv });
  await git('git', ['commit', '-q', '-m', 'x'], { cwd: repo, env: gitEnv });
  const executor = new RunExecutor({
    workdir: join(root, 'runs'),
    driver,
    reporter: quiet,
    artifacts: new LocalArtifactStore(join(root, 'artifacts')),
    sources: { allowLocal: true, allowPrivateHosts: false },
    providerEnv: {},
    gitTimeoutMs: 60_000,
    logFlushMs: 100,
    keepWorkspaces: false,
  });
  const work = (spec: Partial<TaskSpec>): RunDispatched => ({
    runId: randomUUID(),
    taskId: randomUUID(),
    ticketId: randomUUID(),
    attempt: 1,
    leaseToken: randomUUID(),
    agent: spec.steps ? 'command' : 'nop',
    spec: TaskSpec.parse(spec),
    timeoutMs: 60_000,
  });

  const figures: Record<string, number[]> = {
    bare: [],
    'first line': [],
    exec: [],
    run: [],
    'repo run': [],
    process: [],
  };
  const processDriver = new ProcessDriver();
  try {
    for (let i = 0; i <= runs; i++) {
      const sample: Record<string, number> = {};
      sample.bare = await time(async () => {
        const container = await docker.createContainer({
          Image: image,
          Cmd: ['/bin/sh', '-c', 'echo hi'],
          Labels: { 'drover.runner': runnerId },
        });
        await container.start();
        await container.wait();
        await container.remove();
      });
      const started = performance.now();
      let first = 0;
      await driver.exec(
        workspace,
        { script: 'echo hi' },
        () => (first ||= performance.now()),
        never,
      );
      sample.exec = performance.now() - started;
      sample['first line'] = first - started;
      sample.run = await time(() => executor.execute(work({ steps: [{ run: 'echo hi' }] }), never));
      sample['repo run'] = await time(() =>
        executor.execute(work({ repo, acceptance_commands: ['sh test.sh'] }), never),
      );
      sample.process = await time(() =>
        processDriver.exec(workspace, { script: 'echo hi' }, () => undefined, never),
      );
      // The first round warms the engine and the caches; it is not counted.
      if (i > 0) for (const [key, ms] of Object.entries(sample)) figures[key].push(ms);
    }
  } finally {
    await DockerDriver.reap(docker, runnerId);
    await rm(root, { recursive: true, force: true });
  }

  const bare = median(figures.bare);
  const engine = await docker.version();
  console.log(
    `sandbox cost on ${engine.Components?.[0]?.Name ?? 'engine'} ${engine.Version} at ${host}, image ${image}`,
  );
  console.log(`median of ${runs} runs (after one warm-up); ratio to a bare container run\n`);
  for (const [name, values] of Object.entries(figures)) {
    const ms = median(values);
    console.log(
      `  ${name.padEnd(11)} ${ms.toFixed(0).padStart(6)} ms   x${(ms / bare).toFixed(2)}   (min ${Math.min(...values).toFixed(0)}, max ${Math.max(...values).toFixed(0)})`,
    );
  }
}

main().catch((error: Error) => {
  console.error(`bench-sandbox: ${error.message}`);
  process.exit(1);
});
