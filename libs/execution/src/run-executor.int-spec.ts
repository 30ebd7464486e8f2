import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type Docker from 'dockerode';
import {
  sealSecret,
  TaskSpec,
  type ArtifactInfo,
  type LogLine,
  type RunDispatched,
  type StopReason,
} from '@drover/contracts';
import { LocalArtifactStore } from '@drover/storage';
import { sandboxTestImage, testGit, waitFor } from '@drover/testing';
import type { AgentOutcome } from './command-agent';
import { DockerDriver, dockerClient } from './docker-driver';
import { RunExecutor, type ExecutorOptions, type RunReporter } from './run-executor';

// The verification loop, the write policy, artifacts and pushes, run for real:
// a local git repository, the container engine the Jest global setup provides
// (Podman's Docker API here) and its busybox test image.

const RUNNER = `executor-${randomUUID().slice(0, 8)}`;

let root: string;
let source: string;
let docker: Docker;
let driver: DockerDriver;
let store: LocalArtifactStore;

/** What the executor reported, as the control plane would have received it. */
class Reports implements RunReporter {
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
  text(): string {
    return this.lines.map((l) => l.text).join('\n');
  }
}

const exec = promisify(execFile);

/** git for the tests' own setup and checks. */
const git = (cwd: string, ...args: string[]) => testGit(root, cwd, ...args);

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
    limits: { memoryBytes: 256 * 2 ** 20, nanoCpus: 1e9, pids: 64, tmpfsBytes: 16 * 2 ** 20 },
    killGraceMs: 1_000,
  });
  root = await mkdtemp(join(tmpdir(), 'drover-executor-'));
  store = new LocalArtifactStore(join(root, 'artifacts'));
  // The repository a task works on: a test suite that wants src/answer.txt to say 42.
  source = join(root, 'source');
  await mkdir(join(source, 'src'), { recursive: true });
  await git(source, 'init', '-q', '-b', 'main');
  await writeFile(join(source, '.gitignore'), '.count\n');
  await writeFile(join(source, 'src/answer.txt'), 'answer=0\n');
  await writeFile(
    join(source, 'test.sh'),
    'grep -q "answer=42" src/answer.txt || { echo "expected answer=42, got $(cat src/answer.txt)"; exit 1; }\n',
  );
  await git(source, 'add', '-A');
  await git(source, 'commit', '-q', '-m', 'initial');
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

afterEach(async () => {
  const left = await docker.listContainers({
    all: true,
    filters: { label: [`drover.runner=${RUNNER}`] },
  });
  await DockerDriver.reap(docker, RUNNER);
  expect(left.map((c) => c.Labels['drover.run'])).toEqual([]);
});

function work(agent: string, spec: Partial<TaskSpec>, timeoutMs = 120_000): RunDispatched {
  return {
    runId: randomUUID(),
    taskId: randomUUID(),
    ticketId: randomUUID(),
    attempt: 1,
    leaseToken: randomUUID(),
    agent,
    spec: TaskSpec.parse({ repo: source, ...spec }),
    timeoutMs,
  };
}

function executorFor(
  reports: Reports,
  secretsKey?: Uint8Array,
  extra: Partial<ExecutorOptions> = {},
): RunExecutor {
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
    secretsKey,
    ...extra,
  });
}

async function execute(
  dispatched: RunDispatched,
  signal = new AbortController().signal,
  secretsKey?: Uint8Array,
) {
  const reports = new Reports();
  const outcome = await executorFor(reports, secretsKey).execute(dispatched, signal);
  expect(reports.outcome).toEqual(outcome);
  return { outcome, reports };
}

async function artifact(runId: string, name: string): Promise<string> {
  const { body } = await store.get(runId, name);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString();
}

/** A command step that writes answer=0 on its first run in a workspace and answer=42 after. */
const LEARNS = [
  'n=$(( $(cat .count 2>/dev/null || echo 0) + 1 )); echo $n > .count',
  'if [ $n -ge 2 ]; then echo answer=42 > src/answer.txt; else echo answer=0 > src/answer.txt; fi',
  'echo "agent run $n"',
].join('\n');

describe('RunExecutor in a container', () => {
  it('passes on the second iteration, keeps every artifact and pushes the branch', async () => {
    const dispatched = work('command', {
      steps: [{ run: LEARNS }],
      acceptance_commands: ['sh test.sh'],
      max_iterations: 3,
      allowed_paths: ['src/**'],
      push_branch: 'drover/answer',
    });
    const { outcome, reports } = await execute(dispatched);

    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', errorClass: null });
    expect(outcome.result).toMatchObject({
      iterations: 2,
      acceptancePassed: true,
      filesChanged: [{ path: 'src/answer.txt', status: 'modified' }],
      pushed: { branch: 'drover/answer' },
      sandbox: { driver: 'docker' },
    });
    expect(reports.artifacts.map((a) => [a.name, a.kind])).toEqual([
      ['iteration-1.log', 'log'],
      ['iteration-2.log', 'log'],
      ['diff.patch', 'diff'],
      ['result.json', 'result'],
    ]);
    expect(await artifact(dispatched.runId, 'iteration-1.log')).toContain(
      'expected answer=42, got answer=0',
    );
    expect(await artifact(dispatched.runId, 'diff.patch')).toMatch(/-answer=0\n\+answer=42/);
    const result = JSON.parse(await artifact(dispatched.runId, 'result.json')) as {
      iterationDetails: { acceptance: { passed: boolean }[] }[];
    };
    expect(result.iterationDetails.map((i) => i.acceptance.map((a) => a.passed))).toEqual([
      [false],
      [true],
    ]);
    // The branch is in the source repository, with the change and only it.
    expect(await git(source, 'show', 'drover/answer:src/answer.txt')).toBe('answer=42\n');
    expect(await git(source, 'diff', '--name-only', 'main', 'drover/answer')).toBe(
      'src/answer.txt\n',
    );
    expect(reports.text()).toContain('agent run 2');
  }, 120_000);

  it('ends ACCEPTANCE_FAILED when the iterations run out, naming the command', async () => {
    const dispatched = work('command', {
      steps: [{ run: 'echo answer=1 > src/answer.txt' }],
      acceptance_commands: ['true', 'sh test.sh'],
      max_iterations: 2,
      push_branch: 'drover/never',
    });
    const { outcome, reports } = await execute(dispatched);
    expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'ACCEPTANCE_FAILED' });
    expect(outcome.errorMessage).toBe('acceptance failed after 2 iterations: `sh test.sh` exit 1');
    expect(reports.artifacts.map((a) => a.name)).toContain('iteration-2.log');
    await expect(git(source, 'rev-parse', '--verify', '-q', 'drover/never')).rejects.toThrow();
  }, 120_000);

  it('catches writes to forbidden paths and outside allowed ones, naming the files', async () => {
    const forbidden = await execute(
      work('command', {
        steps: [
          { run: 'mkdir -p secrets && echo x > secrets/key && echo answer=42 > src/answer.txt' },
        ],
        acceptance_commands: ['sh test.sh'],
        forbidden_paths: ['secrets/**'],
        push_branch: 'drover/forbidden',
      }),
    );
    expect(forbidden.outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'POLICY_VIOLATION' });
    expect(forbidden.outcome.errorMessage).toBe(
      'changes the task may not make: secrets/key (forbidden by "secrets/**")',
    );
    // Caught before the acceptance commands ran on it, and nothing pushed.
    expect(forbidden.reports.text()).not.toContain('acceptance 1/1');
    await expect(git(source, 'rev-parse', '--verify', '-q', 'drover/forbidden')).rejects.toThrow();

    const outside = await execute(
      work('command', {
        steps: [{ run: 'echo hi >> test.sh; echo answer=42 > src/answer.txt' }],
        allowed_paths: ['src/**'],
      }),
    );
    expect(outside.outcome.errorMessage).toBe(
      'changes the task may not make: test.sh (outside allowed_paths)',
    );
  }, 120_000);

  it('gives a CLI agent the failing output on its next iteration, and sums its cost', async () => {
    const dispatched = work('claude-code', {
      prompt: 'Make test.sh pass.',
      model: 'claude-sonnet-4-5',
      acceptance_commands: ['sh test.sh'],
      max_iterations: 3,
      env: {
        // The fake CLI runs this as the agent's work: right only once it has seen the failure.
        FAKE_AGENT_SCRIPT: [
          'case "$DROVER_PROMPT" in',
          '  *"expected answer=42, got answer=7"*) echo answer=42 > src/answer.txt ;;',
          '  *) echo answer=7 > src/answer.txt ;;',
          'esac',
        ].join('\n'),
      },
    });
    const { outcome, reports } = await execute(dispatched);
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED' });
    expect(outcome.result).toMatchObject({
      agent: 'claude-code',
      model: 'claude-sonnet-4-5',
      iterations: 2,
      costUsd: 0.0246,
      inputTokens: 3000,
      outputTokens: 90,
    });
    expect(reports.text()).toContain('"type":"result"');
  }, 120_000);

  it('ends a CLI agent RATE_LIMITED when its provider refused, with the wait it stated', async () => {
    // What the real Gemini CLI 0.61.0 printed on stderr after its retries against a
    // server answering 429 with RetryInfo 3s; the fake prints it and exits as gemini did.
    const report = await readFile(
      join(__dirname, 'agents', 'fixtures', 'rate-limit', 'gemini-cli-429.stderr'),
      'utf8',
    );
    const dispatched = work('gemini-cli', {
      prompt: 'Make test.sh pass.',
      acceptance_commands: ['sh test.sh'],
      max_iterations: 3,
      env: { GEMINI_REPORT: report, FAKE_AGENT_SCRIPT: 'printf "%s" "$GEMINI_REPORT"; exit 173' },
    });
    const { outcome } = await execute(dispatched);
    expect(outcome).toMatchObject({
      outcome: 'FAILED',
      exitCode: 173,
      errorClass: 'RATE_LIMITED',
      retryAfterMs: 3_000,
    });
    expect(outcome.errorMessage).toMatch(
      /^gemini-cli \(iteration 1\) exited with 173: its provider refused .*retry after 3 s$/,
    );
    // No second iteration: a refusal is not the agent's work failing its acceptance.
    expect(outcome.result).toMatchObject({ iterations: 1, rateLimit: { retryAfterMs: 3_000 } });
    const result = JSON.parse(await artifact(dispatched.runId, 'result.json')) as {
      rateLimit: unknown;
      iterationDetails: { agent: { rateLimit?: unknown } }[];
    };
    expect(result.rateLimit).toEqual({ retryAfterMs: 3_000 });
    expect(result.iterationDetails[0].agent.rateLimit).toEqual({ retryAfterMs: 3_000 });
  }, 120_000);

  it('does not take a failing or succeeding agent that speaks of a 429 for a refusal', async () => {
    const speaks = 'echo "HTTP 429 Too Many Requests: rate_limit_error, try again in 3s" >&2';
    const failing = await execute(
      work('claude-code', {
        prompt: 'API Error: 429 rate_limit_error',
        env: { FAKE_AGENT_SCRIPT: `${speaks}; exit 3` },
      }),
    );
    expect(failing.outcome).toMatchObject({ errorClass: 'AGENT_FAILED', exitCode: 3 });
    expect(failing.outcome).not.toHaveProperty('retryAfterMs');
    expect(failing.outcome.result).toMatchObject({ rateLimit: null });

    const succeeding = await execute(
      work('claude-code', {
        prompt: 'API Error: 429 rate_limit_error',
        env: { FAKE_AGENT_SCRIPT: speaks },
      }),
    );
    expect(succeeding.outcome).toMatchObject({ outcome: 'SUCCEEDED', errorClass: null });
    expect(succeeding.outcome.result).toMatchObject({ rateLimit: null });
  }, 120_000);

  it('nop changes nothing and oracle applies the reference solution', async () => {
    const nop = await execute(work('nop', { acceptance_commands: ['sh test.sh'] }));
    expect(nop.outcome).toMatchObject({ errorClass: 'ACCEPTANCE_FAILED' });
    expect(nop.outcome.result).toMatchObject({ iterations: 1, filesChanged: [] });

    const oracle = await execute(
      work('oracle', {
        solution: 'echo answer=42 > src/answer.txt',
        acceptance_commands: ['sh test.sh'],
      }),
    );
    expect(oracle.outcome).toMatchObject({ outcome: 'SUCCEEDED' });
    expect(oracle.outcome.result).toMatchObject({
      iterations: 1,
      filesChanged: [{ path: 'src/answer.txt' }],
    });
  }, 120_000);

  it.each<[StopReason, string]>([
    ['CANCELLED', 'CANCELLED'],
    ['TIMEOUT', 'TIMEOUT'],
  ])(
    'a %s stop kills the container and ends the run %s',
    async (reason, errorClass) => {
      const dispatched = work('command', { steps: [{ run: 'echo sleeping; sleep 60' }] });
      const controller = new AbortController();
      const reports = new Reports();
      const pending = executorFor(reports).execute(dispatched, controller.signal);
      await waitFor(
        () => reports.lines.some((l) => l.stream === 'stdout' && l.text === 'sleeping'),
        'the step to start',
        30_000,
      );
      const running = await docker.listContainers({
        filters: { label: [`drover.run=${dispatched.runId}`] },
      });
      expect(running).toHaveLength(1);
      const stopAt = Date.now();
      controller.abort(reason);
      const outcome = await pending;
      expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass });
      expect(Date.now() - stopAt).toBeLessThan(10_000);
      const left = await docker.listContainers({
        all: true,
        filters: { label: [`drover.run=${dispatched.runId}`] },
      });
      expect(left).toEqual([]);
    },
    60_000,
  );

  it.each([
    ['ext::sh -c touch% /tmp/pwned', 'repo: the ext:: transport is not allowed'],
    ['--upload-pack=touch /tmp/pwned', "repo: must not start with '-'"],
    ['https://10.0.0.1/repo.git', 'repo:'],
  ])(
    'refuses the repository %s with INVALID_SPEC before git runs',
    async (repo, message) => {
      const dispatched = work('nop', {});
      dispatched.spec = { ...dispatched.spec, repo };
      const { outcome } = await execute(dispatched);
      expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'INVALID_SPEC' });
      expect(outcome.errorMessage).toContain(message);
    },
    60_000,
  );

  it('ends INVALID_SPEC when the task names an image the engine does not have', async () => {
    const { outcome } = await execute(
      work('nop', { image: 'localhost/no-such-image:1', acceptance_commands: ['true'] }),
    );
    expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'INVALID_SPEC' });
    expect(outcome.errorMessage).toBe(
      "image: localhost/no-such-image:1 is not on the runner's engine (runners never pull images)",
    );
  }, 60_000);

  it("applies the task's network and resources over the runner's defaults", async () => {
    const probe = [
      'echo "links: $(ip -o link | cut -d: -f2 | cut -d@ -f1 | tr -d " " | sort | tr "\\n" " ")"',
      'dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null; echo "dd: $?"',
    ].join('; ');
    const stdout = (reports: Reports) =>
      reports.lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    // Defaults here: no network, 256 MiB.
    const plain = await execute(work('command', { steps: [{ run: probe }] }));
    expect(stdout(plain.reports)).toEqual(['links: lo ', 'dd: 0']);
    const asked = await execute(
      work('command', { steps: [{ run: probe }], network: 'open', resources: { memory_mb: 64 } }),
    );
    expect(stdout(asked.reports)).toEqual(['links: eth0 lo ', 'dd: 137']);
  }, 60_000);

  it("lets a CLI agent reach only its provider's configured endpoint by default, whatever its env says", async () => {
    const provider = createServer((req, res) => res.end(`model answer to ${req.url}`));
    await new Promise<void>((done) => provider.listen(0, '127.0.0.1', done));
    const address = `127.0.0.1:${(provider.address() as AddressInfo).port}`;
    try {
      const reports = new Reports();
      const dispatched = work('claude-code', {
        prompt: 'answer',
        env: {
          // A task cannot move the endpoint the runner's provider egress allows.
          ANTHROPIC_BASE_URL: 'http://attacker.example',
          FAKE_AGENT_SCRIPT: [
            'echo "base=$ANTHROPIC_BASE_URL"',
            'wget -q -O - "$ANTHROPIC_BASE_URL/v1/messages"; echo',
            'wget -q -O - http://api.openai.com/v1/models || echo "openai refused"',
          ].join('\n'),
        },
      });
      const outcome = await executorFor(reports, undefined, {
        providerEnv: { ANTHROPIC_API_KEY: 'sk-ant-test', OPENAI_API_KEY: 'sk-openai-test' },
        providerEndpoints: { anthropic: `http://${address}` },
      }).execute(dispatched, new AbortController().signal);
      expect(outcome.outcome).toBe('SUCCEEDED');
      expect(reports.lines.map((l) => l.text)).toEqual(
        expect.arrayContaining([
          `egress: provider: only ${address}, through the run's proxy`,
          `base=http://${address}`,
          'model answer to /v1/messages',
          'openai refused',
          'egress: denied GET api.openai.com:80 (not allowed)',
        ]),
      );
      expect(outcome.result).toMatchObject({
        egress: {
          policy: 'provider',
          allowed: [address],
          denied: [{ target: 'api.openai.com:80', count: 1, reason: 'not allowed' }],
        },
      });
    } finally {
      provider.close();
    }
  }, 60_000);

  it('names and counts the destinations its egress proxy refused, in the log and result.json', async () => {
    // busybox wget sends absolute http:// requests to $http_proxy: each is refused with 403.
    const fetch = (url: string) => `wget -q -O /dev/null ${url} 2>/dev/null; echo "wget: $?"`;
    const dispatched = work('command', {
      steps: [
        {
          run: [
            fetch('http://127.0.0.1:5432/'),
            fetch('http://127.0.0.1:5432/again'),
            fetch('http://not-allowed.example/'),
            'echo "links: $(ls /sys/class/net | tr "\\n" " ")"',
          ].join('; '),
        },
      ],
      network: { allow: ['registry.npmjs.org', '*.pypi.org'] },
    });
    const { outcome, reports } = await execute(dispatched);
    expect(outcome.outcome).toBe('SUCCEEDED');
    const stdout = reports.lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    expect(stdout).toEqual(['wget: 1', 'wget: 1', 'wget: 1', 'links: lo ']);
    const system = reports.lines.filter((l) => l.stream === 'system').map((l) => l.text);
    expect(system).toContain(
      "egress: allow: only registry.npmjs.org, *.pypi.org, through the run's proxy",
    );
    expect(system.filter((line) => line.startsWith('egress: denied'))).toEqual([
      'egress: denied GET 127.0.0.1:5432 (not allowed)',
      'egress: denied GET not-allowed.example:80 (not allowed)',
    ]);
    const result = JSON.parse(await artifact(dispatched.runId, 'result.json')) as {
      egress: unknown;
    };
    expect(result.egress).toEqual({
      policy: 'allow',
      allowed: ['registry.npmjs.org', '*.pypi.org'],
      denied: [
        { target: '127.0.0.1:5432', count: 2, reason: 'not allowed' },
        { target: 'not-allowed.example:80', count: 1, reason: 'not allowed' },
      ],
    });
    expect(outcome.result).toMatchObject({ egress: result.egress });
    // The proxy closed with the run, its socket removed with the run's directory.
    const left = await readdir(join(root, 'runs'));
    expect(left.filter((name) => name.startsWith(`run-${dispatched.runId}`))).toEqual([]);
  }, 60_000);

  it("keeps no artifacts for a plain run of shell steps: its log and result are the run's", async () => {
    const dispatched = work('command', { steps: [{ run: 'echo plain' }] });
    dispatched.spec = { ...dispatched.spec, repo: undefined };
    const { outcome, reports } = await execute(dispatched);
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', result: { iterations: 1 } });
    expect(reports.artifacts).toEqual([]);
    expect(reports.text()).toContain('plain');
  }, 60_000);

  it('reports the JSON object a run leaves in $DROVER_OUTPUT, kept out of the diff and the push', async () => {
    const dispatched = work('command', {
      steps: [
        {
          run: 'echo answer=42 > src/answer.txt\nprintf \'{"error_count": 0, "tag": "%s"}\' "$DROVER_STEP_BUILD_OUTPUT_TAG" > "$DROVER_OUTPUT"',
        },
      ],
      push_branch: 'drover/output',
      template_env: { DROVER_STEP_BUILD_OUTPUT_TAG: "v1'; echo pwned" },
    });
    const { outcome } = await execute(dispatched);
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED' });
    expect(outcome.result).toMatchObject({
      output: { error_count: 0, tag: "v1'; echo pwned" },
      filesChanged: [{ path: 'src/answer.txt', status: 'modified' }],
    });
    expect(await git(source, 'ls-tree', '-r', '--name-only', 'drover/output')).not.toContain(
      '.drover',
    );
  }, 60_000);

  it('fails a run whose $DROVER_OUTPUT is not a JSON object, or is a link', async () => {
    for (const [run, message] of [
      ['echo "[1, 2]" > "$DROVER_OUTPUT"', /must hold a JSON object/],
      ['echo "{oops" > "$DROVER_OUTPUT"', /is not JSON/],
      ['ln -s /etc/passwd "$DROVER_OUTPUT"', /is not a file/],
    ] as const) {
      const dispatched = work('command', { steps: [{ run }] });
      dispatched.spec = { ...dispatched.spec, repo: undefined };
      const { outcome } = await execute(dispatched);
      expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'AGENT_FAILED' });
      expect(outcome.errorMessage).toMatch(message);
    }
  }, 60_000);

  it('ends NEEDS_INPUT with the request a run writes to $DROVER_REQUEST', async () => {
    const request = { name: 'DEPLOY_TOKEN', prompt: 'The token for prod', secret: true };
    const dispatched = work('command', {
      steps: [
        {
          run: `if [ -z "$DEPLOY_TOKEN" ]; then echo '${JSON.stringify(request)}' > "$DROVER_REQUEST"; exit 3; fi`,
        },
        { run: 'echo never here' },
      ],
    });
    dispatched.spec = { ...dispatched.spec, repo: undefined };
    const { outcome, reports } = await execute(dispatched);
    expect(outcome).toMatchObject({
      outcome: 'NEEDS_INPUT',
      errorClass: null,
      input: { ...request, secret: true },
    });
    expect(reports.text()).toContain('the run asks for DEPLOY_TOKEN');
    expect(reports.text()).not.toContain('never here');

    const bad = work('command', {
      steps: [{ run: `echo '{"name": "DROVER_X"}' > "$DROVER_REQUEST"` }],
    });
    bad.spec = { ...bad.spec, repo: undefined };
    const refused = await execute(bad);
    expect(refused.outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'AGENT_FAILED' });
    expect(refused.outcome.errorMessage).toMatch(
      /\$DROVER_REQUEST .*name: names starting with DROVER_ are reserved.*prompt/,
    );
  }, 60_000);

  it('refuses a ref that is an option or not a ref name', async () => {
    for (const ref of ['--output=/tmp/x', 'main..other', 'nope']) {
      const dispatched = work('nop', {});
      dispatched.spec = { ...dispatched.spec, clone_branch: ref };
      const { outcome } = await execute(dispatched);
      expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'INVALID_SPEC' });
      expect(outcome.errorMessage).toMatch(/^clone_branch: /);
    }
  }, 60_000);
});

describe('RunExecutor with secret env values', () => {
  const KEY = randomBytes(32);
  const SECRET = 'tok-8f3a9c2e1b';
  const STEP_SECRET = 'step-5e7d1f';
  // The step proves it got both values without either appearing in its text.
  const STEP = [
    '[ "$TOKEN" = "tok-""8f3a9c2e1b" ] && [ "$STEP_TOKEN" = "step-""5e7d1f" ] || exit 9',
    'echo "secrets received"',
    'printf %s "$TOKEN"; echo',
    'echo "Authorization: Bearer $TOKEN; step $STEP_TOKEN; plain $PLAIN"',
    'echo "$TOKEN" >&2',
    // One line in two writes a second apart: two chunks of the stream.
    'printf %s "${TOKEN%%8f3a*}"; sleep 1; printf "%s\\n" "${TOKEN#tok-}"',
    // A line the log clips, the secret across the cut.
    'head -c 16376 /dev/zero | tr "\\000" x; echo "$TOKEN"',
    'printf %s "$TOKEN" > src/token.txt',
    // A file named by the secret, outside allowed_paths: the error message names it.
    'touch "$TOKEN.txt"',
  ].join('\n');

  const withSecrets = () =>
    work('command', {
      env: { TOKEN: { sealed: sealSecret(SECRET, KEY) }, PLAIN: 'plain-value' },
      steps: [{ run: STEP, env: { STEP_TOKEN: { sealed: sealSecret(STEP_SECRET, KEY) } } }],
      allowed_paths: ['src/**'],
    });

  // Whole values and the part a clipped line would keep (the step's text holds only halves).
  const leaks = (text: string) => [SECRET, STEP_SECRET, 'tok-8f3a'].filter((s) => text.includes(s));

  it('gives the sandbox the values and reports *** in their place, never the values', async () => {
    const dispatched = withSecrets();
    const { outcome, reports } = await execute(dispatched, undefined, KEY);

    // The step got both values (it exits 9 otherwise) and went on to break the write policy.
    expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'POLICY_VIOLATION' });
    expect(outcome.errorMessage).toBe(
      'changes the task may not make: ***.txt (outside allowed_paths)',
    );
    const lines = reports.lines.map((l) => `${l.stream} ${l.text}`);
    expect(lines).toEqual(
      expect.arrayContaining([
        'stdout secrets received',
        'stdout ***',
        'stdout Authorization: Bearer ***; step ***; plain plain-value',
        'stderr ***',
      ]),
    );
    expect(lines.filter((l) => l === 'stdout ***')).toHaveLength(2);
    const clipped = reports.lines.find((l) => l.text.startsWith('xxxx'));
    // Clipped first (at 16384 characters), it would have kept "tok-8f3a".
    expect(clipped?.text).toMatch(/^x{16376}\*\*\*$/);
    expect(leaks(lines.join('\n'))).toEqual([]);

    const names = reports.artifacts.map((a) => a.name);
    expect(names).toEqual(['iteration-1.log', 'diff.patch', 'result.json']);
    const texts = await Promise.all(names.map((name) => artifact(dispatched.runId, name)));
    for (const text of texts) expect(leaks(text)).toEqual([]);
    const [iterationLog, diff, result] = texts;
    expect(iterationLog).toContain('Authorization: Bearer ***; step ***; plain plain-value');
    expect(diff).toContain('diff --git a/***.txt b/***.txt');
    expect(diff).toMatch(/\+\*\*\*\n\\ No newline at end of file/);
    const { filesChanged } = JSON.parse(result) as { filesChanged: { path: string }[] };
    expect(filesChanged.map((f) => f.path).sort()).toEqual(['***.txt', 'src/token.txt']);
    expect(leaks(JSON.stringify(outcome))).toEqual([]);
  }, 120_000);

  it.each([
    ['no key', undefined, 'this runner has no DROVER_SECRETS_KEY to open it'],
    ['another key', randomBytes(32), 'DROVER_SECRETS_KEY cannot open (sealed with another key'],
  ])(
    'ends INVALID_SPEC naming the variable when the runner has %s',
    async (_, key, says) => {
      const { outcome, reports } = await execute(withSecrets(), undefined, key);
      expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'INVALID_SPEC' });
      expect(outcome.errorMessage).toMatch(/^env\.TOKEN: is a secret/);
      expect(outcome.errorMessage).toContain(says);
      // Nothing ran.
      expect(reports.text()).not.toContain('secrets received');
      expect(reports.artifacts).toEqual([]);
    },
    60_000,
  );
});

describe('RunExecutor with workspace snapshots', () => {
  const stdout = (reports: Reports) =>
    reports.lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
  const plain = (dispatched: RunDispatched) => {
    dispatched.spec = { ...dispatched.spec, repo: undefined };
    return dispatched;
  };

  it("starts a step from the workspace its upstream left, diffing and pushing from the upstream's commit", async () => {
    const original = (await git(source, 'rev-parse', 'main')).trim();
    const first = work('command', {
      steps: [{ run: 'echo answer=42 > src/answer.txt\necho "from the first run" > notes.txt' }],
      keep_workspace: true,
    });
    const upstream = await execute(first);
    expect(upstream.outcome).toMatchObject({ outcome: 'SUCCEEDED' });
    expect(upstream.reports.artifacts.map((a) => [a.name, a.kind, a.contentType])).toEqual([
      ['iteration-1.log', 'log', 'text/plain; charset=utf-8'],
      ['diff.patch', 'diff', 'text/x-diff; charset=utf-8'],
      ['result.json', 'result', 'application/json'],
      ['workspace.tar.gz', 'file', 'application/gzip'],
    ]);

    const second = work('command', {
      steps: [{ run: 'cat src/answer.txt notes.txt\necho "and the second" >> notes.txt' }],
      workspace_run: first.runId,
      push_branch: 'drover/inherited',
    });
    const { outcome, reports } = await execute(second);
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED' });
    expect(stdout(reports)).toEqual(['answer=42', 'from the first run']);
    // The snapshot holds the checkout: the repository is not fetched again.
    expect(reports.text()).not.toContain('fetching');
    expect(reports.text()).toContain(`workspace at ${original}`);
    expect(outcome.result).toMatchObject({
      baseCommit: original,
      filesChanged: [
        { path: 'notes.txt', status: 'added' },
        { path: 'src/answer.txt', status: 'modified' },
      ],
      pushed: { branch: 'drover/inherited' },
    });
    const diff = await artifact(second.runId, 'diff.patch');
    expect(diff).toMatch(/-answer=0\n\+answer=42/);
    expect(diff).toContain('+from the first run\n+and the second');
    expect(await git(source, 'show', 'drover/inherited:src/answer.txt')).toBe('answer=42\n');
    expect(await git(source, 'show', 'drover/inherited:notes.txt')).toBe(
      'from the first run\nand the second\n',
    );
    expect((await git(source, 'rev-parse', 'drover/inherited^')).trim()).toBe(original);
  }, 120_000);

  it('keeps and restores the workspace of plain runs, without their output', async () => {
    const first = plain(
      work('command', {
        steps: [
          {
            run: [
              'mkdir -p data/deep && echo kept > data/deep/file && ln -s data/deep/file link',
              'printf "#!/bin/sh\\necho tool ran\\n" > tool && chmod +x tool',
              `echo '{"n": 1}' > "$DROVER_OUTPUT"`,
            ].join('\n'),
          },
        ],
        keep_workspace: true,
      }),
    );
    const upstream = await execute(first);
    expect(upstream.outcome).toMatchObject({ outcome: 'SUCCEEDED', result: { output: { n: 1 } } });
    // A plain run keeps no artifacts but this one.
    expect(upstream.reports.artifacts.map((a) => a.name)).toEqual(['workspace.tar.gz']);

    const second = plain(
      work('command', {
        steps: [{ run: 'cat link && ./tool && echo more >> data/deep/file && cat data/deep/file' }],
        workspace_run: first.runId,
      }),
    );
    const { outcome, reports } = await execute(second);
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', result: { baseCommit: null } });
    expect(stdout(reports)).toEqual(['kept', 'tool ran', 'kept', 'more']);
    // The upstream's $DROVER_OUTPUT was its own.
    expect(outcome.result).toMatchObject({ output: null });
    expect(reports.artifacts).toEqual([]);
  }, 120_000);

  it('keeps the workspace of a failed run, and none of a cancelled one', async () => {
    const failed = plain(
      work('command', { steps: [{ run: 'echo half > done.txt; exit 3' }], keep_workspace: true }),
    );
    const kept = await execute(failed);
    expect(kept.outcome).toMatchObject({ errorClass: 'AGENT_FAILED' });
    expect(kept.reports.artifacts.map((a) => a.name)).toEqual(['workspace.tar.gz']);

    const cancelled = plain(
      work('command', { steps: [{ run: 'echo sleeping; sleep 60' }], keep_workspace: true }),
    );
    const controller = new AbortController();
    const reports = new Reports();
    const pending = executorFor(reports).execute(cancelled, controller.signal);
    await waitFor(() => reports.text().includes('sleeping'), 'the step to start', 30_000);
    controller.abort('CANCELLED');
    expect(await pending).toMatchObject({ errorClass: 'CANCELLED' });
    expect(reports.artifacts).toEqual([]);
    await expect(store.get(cancelled.runId, 'workspace.tar.gz')).rejects.toThrow('not found');
  }, 120_000);

  it('ends INFRA when the upstream workspace is not in the artifact store', async () => {
    const upstream = randomUUID();
    const { outcome, reports } = await execute(
      work('command', { steps: [{ run: 'echo never here' }], workspace_run: upstream }),
    );
    expect(outcome).toMatchObject({
      outcome: 'FAILED',
      errorClass: 'INFRA',
      errorMessage: `the workspace of run ${upstream} is not in the artifact store`,
    });
    expect(reports.text()).not.toContain('never here');
  }, 60_000);

  it('ends INFRA, extracting nothing, when the upstream snapshot was crafted to escape', async () => {
    // What a hostile runner could store for its own run: a link to / and a file through it.
    const upstream = randomUUID();
    const build = join(root, `crafted-${upstream}`);
    await mkdir(join(build, 'second/escape'), { recursive: true });
    await mkdir(join(build, 'first'));
    await symlink('/', join(build, 'first/escape'));
    await writeFile(join(build, 'second/escape/etc-file'), 'pwned\n');
    const tarFile = join(build, 'crafted.tar');
    await exec('tar', ['-cf', tarFile, '-C', join(build, 'first'), 'escape']);
    await exec('tar', ['-rf', tarFile, '-C', join(build, 'second'), 'escape/etc-file']);
    const body = gzipSync(await readFile(tarFile));
    await store.put(upstream, 'workspace.tar.gz', body, 'application/gzip');

    const { outcome, reports } = await execute(
      work('command', { steps: [{ run: 'echo never here' }], workspace_run: upstream }),
    );
    expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'INFRA' });
    expect(outcome.errorMessage).toBe(
      `the workspace of run ${upstream} is refused: entry "escape" is a symlink to an absolute path ("/")`,
    );
    expect(reports.text()).not.toContain('never here');
    await expect(readFile('/etc-file')).rejects.toThrow();
  }, 60_000);
});
