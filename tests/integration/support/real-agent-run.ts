import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import { TaskSpec, type ArtifactInfo, type LogLine, type RunDispatched } from '@drover/contracts';
import {
  type AgentOutcome,
  type CliAgentName,
  DockerDriver,
  dockerClient,
  RunExecutor,
} from '@drover/execution';
import { LocalArtifactStore } from '@drover/storage';
import {
  agentImage,
  agentTools,
  type ModelScript,
  type ModelServer,
  type ModelServerOptions,
  type ScriptedAgent,
  startModelServer,
  testGit,
  type TurnUsage,
} from '@drover/testing';

// A runner as production builds it (RunExecutor, the DockerDriver, egress through the
// run's proxy), on the agent image with the real CLIs, its provider endpoints pointing at
// a scripted model server on the host's loopback. Shared by the real-CLI tests and
// `npm run bench:agents`.

/** What the executor reported, as the control plane would have received it. */
export class CollectedReports {
  lines: LogLine[] = [];
  artifacts: ArtifactInfo[] = [];
  outcome: AgentOutcome | undefined;
  log(_work: RunDispatched, _first: number, lines: LogLine[]): Promise<void> {
    this.lines.push(...lines);
    return Promise.resolve();
  }
  artifact(_work: RunDispatched, artifact: ArtifactInfo): Promise<void> {
    this.artifacts.push(artifact);
    return Promise.resolve();
  }
  finished(_work: RunDispatched, outcome: AgentOutcome): Promise<void> {
    this.outcome = outcome;
    return Promise.resolve();
  }
  /** The lines of one stream, in order. */
  stream(stream: LogLine['stream']): string[] {
    return this.lines.filter((line) => line.stream === stream).map((line) => line.text);
  }
}

/** The runner's provider keys: each CLI must send its own to the model server. */
export const RUNNER_KEYS = {
  ANTHROPIC_API_KEY: 'sk-ant-scripted-runner-key',
  OPENAI_API_KEY: 'sk-openai-scripted-runner-key',
  GEMINI_API_KEY: 'gemini-scripted-runner-key',
} as const;

/** The repository every scripted run works on. */
export const REPO_FILES: Readonly<Record<string, string>> = {
  'src/greeting.txt': 'greeting = world\n',
  'check.sh': 'grep -q "greeting = drover" src/greeting.txt\n',
};

/**
 * One CLI's scripted edit: read a file, edit it, write a new one, run a command, answer.
 * The model each CLI is run with avoids its side paths (Codex's tools for gpt-5.5, Gemini
 * CLI's router with a pinned model); opencode names its provider.
 */
export interface ScriptedEdit {
  agent: ScriptedAgent & CliAgentName;
  model: string;
  /** The key variable the CLI sends. */
  keyEnv: keyof typeof RUNNER_KEYS;
  prompt: string;
  script: ModelScript;
  /** The usage of each main-loop turn, in order (what the script answers). */
  usage: Required<Pick<TurnUsage, 'input' | 'output'>>[];
  finalMessage: string;
}

export const SCRIPTED_MODELS: Readonly<
  Record<ScriptedEdit['agent'], { model: string; keyEnv: ScriptedEdit['keyEnv'] }>
> = {
  'claude-code': { model: 'claude-sonnet-4-5', keyEnv: 'ANTHROPIC_API_KEY' },
  codex: { model: 'gpt-5.5', keyEnv: 'OPENAI_API_KEY' },
  'gemini-cli': { model: 'gemini-2.5-pro', keyEnv: 'GEMINI_API_KEY' },
  opencode: { model: 'anthropic/claude-sonnet-4-5', keyEnv: 'ANTHROPIC_API_KEY' },
};

/** The file the scripted agent adds, and what the command it runs prints. */
export const NOTES = { path: 'NOTES.md', content: 'Edited by a scripted model.\n' };

export function scriptedEdit(agent: ScriptedEdit['agent']): ScriptedEdit {
  const tools = agentTools(agent);
  // Distinct figures per turn, so a sum that misses or doubles one shows.
  const usage = [
    { input: 1000, output: 11 },
    { input: 1200, output: 23 },
    { input: 1400, output: 37 },
    { input: 1600, output: 41 },
    { input: 1800, output: 53 },
  ];
  const finalMessage = `Done: the greeting says drover now (${agent}).`;
  const turns = [
    { tool: tools.readFile('src/greeting.txt') },
    { tool: tools.editFile('src/greeting.txt', 'greeting = world', 'greeting = drover') },
    { tool: tools.writeFile(NOTES.path, NOTES.content) },
    { tool: tools.runCommand('sh check.sh && echo "check passed"') },
    { text: finalMessage },
  ].map((turn, i) => ({ ...turn, usage: usage[i] }));
  return {
    agent,
    ...SCRIPTED_MODELS[agent],
    prompt: `Make src/greeting.txt greet drover instead of the world, and leave a note in ${NOTES.path}. (${agent})`,
    script: { sessions: [turns] },
    usage,
    finalMessage,
  };
}

export interface AgentRunnerOptions {
  dockerHost: string;
  image: string;
}

/** One run's outcome, its reports and its stored artifacts. */
export interface AgentRun {
  work: RunDispatched;
  outcome: AgentOutcome;
  reports: CollectedReports;
  artifact(name: string): Promise<string>;
  wallMs: number;
}

/**
 * A runner on the agent image: a local repository (REPO_FILES) the runs clone, a
 * DockerDriver sized for the real CLIs, artifacts in a temporary directory.
 */
export class RealAgentRunner {
  readonly runnerId = `real-cli-${randomUUID().slice(0, 8)}`;
  readonly docker: Docker;
  private readonly driver: DockerDriver;
  private readonly store: LocalArtifactStore;

  private constructor(
    private readonly root: string,
    readonly source: string,
    options: AgentRunnerOptions,
  ) {
    this.docker = dockerClient(options.dockerHost);
    this.driver = new DockerDriver({
      docker: this.docker,
      image: options.image,
      runnerId: this.runnerId,
      user: '1000:1000',
      // What the real CLIs need: a Node process or two, a native binary, their tmp files.
      limits: {
        memoryBytes: 2 * 2 ** 30,
        nanoCpus: 2e9,
        pids: 512,
        tmpfsBytes: 256 * 2 ** 20,
      },
      killGraceMs: 1_000,
    });
    this.store = new LocalArtifactStore(join(root, 'artifacts'));
  }

  static async start(options: AgentRunnerOptions): Promise<RealAgentRunner> {
    const root = await mkdtemp(join(tmpdir(), 'drover-real-cli-'));
    const source = join(root, 'source');
    await mkdir(join(source, 'src'), { recursive: true });
    const git = (...args: string[]) => testGit(root, source, ...args);
    await git('init', '-q', '-b', 'main');
    for (const [path, content] of Object.entries(REPO_FILES)) {
      await writeFile(join(source, path), content);
    }
    await git('add', '-A');
    await git('commit', '-q', '-m', 'initial');
    return new RealAgentRunner(root, source, options);
  }

  /** Runs `agent` on the repository through a RunExecutor whose endpoints are `server`'s. */
  async run(
    agent: CliAgentName,
    spec: Partial<TaskSpec>,
    server: ModelServer,
    timeoutMs = 120_000,
  ): Promise<AgentRun> {
    const work: RunDispatched = {
      runId: randomUUID(),
      taskId: randomUUID(),
      ticketId: randomUUID(),
      attempt: 1,
      leaseToken: randomUUID(),
      agent,
      spec: TaskSpec.parse({ repo: this.source, ...spec }),
      timeoutMs,
    };
    const reports = new CollectedReports();
    const executor = new RunExecutor({
      workdir: join(this.root, 'runs'),
      driver: this.driver,
      reporter: reports,
      artifacts: this.store,
      sources: { allowLocal: true, allowPrivateHosts: false },
      providerEnv: RUNNER_KEYS,
      providerEndpoints: server.baseUrls,
      gitTimeoutMs: 60_000,
      logFlushMs: 20,
      keepWorkspaces: false,
    });
    const started = performance.now();
    const outcome = await executor.execute(work, new AbortController().signal);
    const wallMs = performance.now() - started;
    return { work, outcome, reports, artifact: (name) => this.artifact(work.runId, name), wallMs };
  }

  private async artifact(runId: string, name: string): Promise<string> {
    const { body } = await this.store.get(runId, name);
    const chunks: Buffer[] = [];
    for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
    return Buffer.concat(chunks).toString();
  }

  /** Removes the runner's containers (returns how many were left) and its files. */
  async close(): Promise<number> {
    const left = await DockerDriver.reap(this.docker, this.runnerId);
    await rm(this.root, { recursive: true, force: true });
    return left;
  }
}

/** A test file's runner, and the model servers its tests start. */
export interface RealAgentTests {
  /** The file's runner, started before its first test. */
  readonly runner: RealAgentRunner;
  /** Starts a model server for the current test; it is closed after the test. */
  serve(options: ModelServerOptions): Promise<ModelServer>;
}

/**
 * Registers the Jest hooks of a test file of real CLI runs: one runner on the agent
 * image for the whole file (none of its containers may be left at the end), and a model
 * server per test, closed after it.
 */
export function realAgentTests(): RealAgentTests {
  let runner: RealAgentRunner | undefined;
  let server: ModelServer | undefined;

  beforeAll(async () => {
    const dockerHost = process.env.DROVER_TEST_DOCKER_HOST;
    if (!dockerHost) throw new Error('DROVER_TEST_DOCKER_HOST is empty: no container engine');
    runner = await RealAgentRunner.start({ dockerHost, image: agentImage() });
  }, 60_000);

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  afterAll(async () => {
    expect(await runner?.close()).toBe(0);
  });

  return {
    get runner() {
      if (!runner) throw new Error('the real agent runner has not started (its beforeAll failed)');
      return runner;
    },
    async serve(options) {
      server = await startModelServer(options);
      return server;
    },
  };
}
