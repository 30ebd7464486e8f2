// `npm run bench:agents -- [runs] [agents]`: the wall time of one scripted run end to end
// for each real agent CLI, as a runner runs it: RunExecutor, the DockerDriver on the
// agent image, `provider` egress through the run's proxy, a scripted model server on
// loopback (tests/integration/support/real-agent-run.ts: read a file, edit it, write
// one, run a command, answer; then the acceptance command). Each CLI gets one warm-up
// run, then `runs` (default 5) timed ones; printed: median, min and max, and the
// version each CLI prints in the image. `agents` is a comma-separated subset.
import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerDriver, dockerClient } from '@drover/execution';
import { startModelServer } from '@drover/testing';
import {
  RealAgentRunner,
  scriptedEdit,
  type ScriptedEdit,
} from '../tests/integration/support/real-agent-run';

const AGENTS: ScriptedEdit['agent'][] = ['claude-code', 'codex', 'gemini-cli', 'opencode'];
const BINARIES: Record<ScriptedEdit['agent'], string> = {
  'claude-code': 'claude',
  codex: 'codex',
  'gemini-cli': 'gemini',
  opencode: 'opencode',
};

const runs = Number(process.argv[2] ?? 5);
const agents = (process.argv[3]?.split(',') ?? AGENTS) as ScriptedEdit['agent'][];

/** A helper of tools/lib, run as the tests' global setup runs it: its answer on stdout. */
function toolOutput(script: string, env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, [join(__dirname, 'lib', script)], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

/** Each CLI's `--version` line, printed in the image as a run would run it. */
async function versions(dockerHost: string, image: string): Promise<Map<string, string>> {
  const runnerId = `bench-agents-versions-${process.pid}`;
  const driver = new DockerDriver({
    dockerHost,
    image,
    runnerId,
    user: '1000:1000',
    limits: { memoryBytes: 2 ** 30, nanoCpus: 2e9, pids: 256, tmpfsBytes: 64 * 2 ** 20 },
  });
  const found = new Map<string, string>();
  const workspace = await mkdtemp(join(tmpdir(), 'drover-bench-agents-'));
  await chmod(workspace, 0o777);
  for (const agent of agents) {
    const lines: string[] = [];
    await driver.exec(
      workspace,
      { script: `${BINARIES[agent]} --version`, env: { HOME: '/tmp' }, timeoutMs: 60_000 },
      (stream, text) => stream === 'stdout' && lines.push(text),
      new AbortController().signal,
    );
    found.set(agent, lines.join(' ').trim() || '(printed nothing)');
  }
  await rm(workspace, { recursive: true, force: true });
  await DockerDriver.reap(dockerClient(dockerHost), runnerId);
  return found;
}

/** One scripted run of `agent`; throws unless it succeeded with the script played out. */
async function scriptedRun(runner: RealAgentRunner, agent: ScriptedEdit['agent']) {
  const edit = scriptedEdit(agent);
  const server = await startModelServer({ script: edit.script });
  try {
    const spec = { prompt: edit.prompt, model: edit.model, acceptance_commands: ['sh check.sh'] };
    const run = await runner.run(agent, spec, server);
    if (run.outcome.outcome !== 'SUCCEEDED' || server.remaining().length) {
      throw new Error(
        `${agent}: ${run.outcome.outcome} ${run.outcome.errorMessage ?? ''}; script left: ${server.remaining().join(', ')}`,
      );
    }
    return run.wallMs;
  } finally {
    await server.close();
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

async function main(): Promise<void> {
  const dockerHost = toolOutput('engine.mjs').split('\n')[0];
  if (!dockerHost) throw new Error('no container engine');
  const image = toolOutput('agent-image.mjs', { DOCKER_HOST: dockerHost });
  const found = await versions(dockerHost, image);
  const runner = await RealAgentRunner.start({ dockerHost, image });
  console.log(`${image}, ${runs} timed runs per CLI after one warm-up`);
  console.log('cli          median    min       max       version');
  try {
    for (const agent of agents) {
      await scriptedRun(runner, agent);
      const times: number[] = [];
      for (let i = 0; i < runs; i++) times.push(await scriptedRun(runner, agent));
      console.log(
        [
          agent.padEnd(12),
          seconds(median(times)).padEnd(9),
          seconds(Math.min(...times)).padEnd(9),
          seconds(Math.max(...times)).padEnd(9),
          found.get(agent),
        ].join(' '),
      );
    }
  } finally {
    await runner.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
