import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { ErrorClass, RunStatus, TaskStatus } from '@drover/contracts';
import {
  agentImage,
  agentTools,
  startModelServer,
  testGit,
  type ModelScript,
  type ModelServer,
  type RecordedRequest,
} from '@drover/testing';
import { DroverHttp } from './support/api';
import { buildCli, CLI_BIN, cliEnv, useServices, type AppHandle } from './support/services';

// The headline job end to end: work orders submitted through the gateway's REST API,
// run by the real Claude Code CLI in the agent image on a runner with the docker
// sandbox, its model the scripted model server (the runner's ANTHROPIC_BASE_URL,
// reached only through the run's egress proxy), its acceptance command the
// repository's own test suite, its branch pushed to the source repository.

function engineHost(): string {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  if (!host) throw new Error('no container engine for the real agent e2e tests (see global setup)');
  return host;
}

const ROOT = join(__dirname, '../..');
const run = promisify(execFile);

/** The key the runner holds: every request the CLI makes must carry it. */
const API_KEY = 'sk-ant-e2e-scripted';
const claude = agentTools('claude-code');

const Run = z.object({
  id: z.uuid(),
  attempt: z.number().int(),
  status: RunStatus,
  dispatchedAt: z.iso.datetime(),
  startedAt: z.iso.datetime().nullable(),
  finishedAt: z.iso.datetime().nullable(),
  errorClass: ErrorClass.nullable(),
  errorMessage: z.string().nullable(),
  result: z.record(z.string(), z.unknown()).nullable(),
  costUsd: z.union([z.number(), z.string()]).nullable(),
  inputTokens: z.number().int().nullable(),
  outputTokens: z.number().int().nullable(),
});
const Task = z.object({ id: z.uuid(), status: TaskStatus, runs: z.array(Run) });
type Task = z.infer<typeof Task>;
const Submitted = z.object({ id: z.uuid(), tasks: z.array(z.object({ id: z.uuid() })) });
const Ticket = z.object({ status: z.string() });

/** One iteration of result.json, as far as these tests read it. */
const ResultJson = z.object({
  iterationDetails: z.array(
    z.object({
      iteration: z.number().int(),
      agent: z.object({
        exitCode: z.number().int().nullable(),
        finalMessage: z.string().nullable(),
        costUsd: z.number().nullable(),
        inputTokens: z.number().nullable(),
        outputTokens: z.number().nullable(),
      }),
    }),
  ),
});

/** Claude Code's result object, as it printed it on stdout (one JSON line). */
const ClaudeResult = z.object({
  type: z.literal('result'),
  result: z.string(),
  total_cost_usd: z.number(),
  usage: z.object({
    input_tokens: z.number(),
    output_tokens: z.number(),
    cache_creation_input_tokens: z.number(),
    cache_read_input_tokens: z.number(),
  }),
});

describe('claude-code end to end', () => {
  const { services: stack, logged } = useServices({
    runner: false,
    env: {
      RUNNER_SANDBOX: 'docker',
      DOCKER_HOST: engineHost(),
      RUNNER_IMAGE: agentImage(),
      RUNNER_ALLOW_LOCAL_REPOS: 'true',
    },
  });
  const http = () => new DroverHttp(stack().baseUrl, stack().apiKey);
  let root: string;
  let model: ModelServer | undefined;
  let runner: AppHandle | undefined;

  const git = (cwd: string, ...args: string[]) => testGit(root, cwd, ...args);

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'drover-claude-e2e-'));
    await buildCli();
  }, 120_000);

  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  afterEach(async () => {
    if (runner && !runner.hasExited()) await stack().stopApp(runner);
    runner = undefined;
    await model?.close();
    model = undefined;
  });

  /** The scripted model, and a runner whose Claude Code talks to it with API_KEY. */
  async function scriptedClaude(script: ModelScript): Promise<ModelServer> {
    model = await startModelServer({ script });
    runner = await stack().startRunner({
      env: { ANTHROPIC_API_KEY: API_KEY, ANTHROPIC_BASE_URL: model.baseUrls.anthropic },
    });
    return model;
  }

  /** A small repository whose test suite fails: `add` subtracts. */
  async function calculator(name: string): Promise<string> {
    const repo = join(root, name);
    await mkdir(join(repo, 'src'), { recursive: true });
    await writeFile(join(repo, 'src/add.sh'), '#!/bin/sh\necho $(( $1 - $2 ))\n');
    await writeFile(
      join(repo, 'test.sh'),
      [
        '#!/bin/sh',
        'got=$(sh src/add.sh 2 3)',
        '[ "$got" = 5 ] || { echo "add 2 3: expected 5, got $got"; exit 1; }',
        'echo "all tests passed"',
        '',
      ].join('\n'),
    );
    await git(repo, 'init', '-q', '-b', 'main');
    await git(repo, 'add', '-A');
    await git(repo, 'commit', '-q', '-m', 'a calculator with a bug');
    return repo;
  }

  /** POST /tickets with a Markdown work order as the body; the task's id. */
  async function submitWorkOrder(text: string): Promise<{ ticketId: string; taskId: string }> {
    const res = await fetch(`${stack().baseUrl}/tickets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${stack().apiKey}`, 'content-type': 'text/markdown' },
      body: text,
    });
    const body = await res.json();
    if (res.status !== 201) throw new Error(`POST /tickets: ${res.status} ${JSON.stringify(body)}`);
    const ticket = Submitted.parse(body);
    return { ticketId: ticket.id, taskId: ticket.tasks[0].id };
  }

  const task = (id: string) => http().get(Task, `/tasks/${id}`);

  async function settled(taskId: string, timeoutMs: number): Promise<Task> {
    await http().waitForTask(
      taskId,
      (t) => ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'BLOCKED'].includes(t.status),
      'the task to end',
      timeoutMs,
      250,
    );
    return task(taskId);
  }

  /** The scripted model saw only the requests it expected, and all of them. */
  function expectScriptPlayed(server: ModelServer): void {
    expect(server.problems).toEqual([]);
    expect(server.remaining()).toEqual([]);
  }

  /** Waits for the task to end; expects the script played, the task and its ticket SUCCEEDED. */
  async function succeeded(server: ModelServer, ticketId: string, taskId: string): Promise<Task> {
    const done = await settled(taskId, 150_000);
    expectScriptPlayed(server);
    expect(done.status).toBe('SUCCEEDED');
    expect((await http().get(Ticket, `/tickets/${ticketId}`)).status).toBe('SUCCEEDED');
    return done;
  }

  async function artifact(runId: string, name: string): Promise<string> {
    const res = await fetch(`${stack().baseUrl}/runs/${runId}/artifacts/${name}`, {
      headers: { authorization: `Bearer ${stack().apiKey}` },
    });
    if (res.status !== 200) throw new Error(`artifact ${name} of run ${runId}: ${res.status}`);
    return res.text();
  }

  /** Claude's result objects in the run's log, in the order the iterations printed them. */
  async function claudeResults(runId: string) {
    const lines = (await http().logs(runId)).lines;
    return lines
      .filter((l) => l.stream === 'stdout' && l.text.startsWith('{'))
      .map((l) => JSON.parse(l.text) as { type?: unknown })
      .filter((event) => event.type === 'result')
      .map((event) => ClaudeResult.parse(event));
  }

  const mainRequests = (server: ModelServer) => server.requests.filter((r) => r.kind === 'main');
  const userText = (request: RecordedRequest | undefined) =>
    request?.conversation?.userTexts.join('\n') ?? '';

  it(
    "fixes a bug in two iterations: the test failure reaches Claude Code's second prompt, the fix is pushed, the diff is its edit",
    logged(async () => {
      const repo = await calculator('fix-add');
      const server = await scriptedClaude({
        sessions: [
          // Iteration 1: swaps the operands, which the test suite still refuses.
          [
            { tool: claude.readFile('src/add.sh'), usage: { input: 1200, output: 40 } },
            {
              tool: claude.editFile('src/add.sh', '$1 - $2', '$2 - $1'),
              usage: { input: 1300, output: 60, cacheRead: 500 },
            },
            { text: 'Swapped the operands of add.', usage: { input: 1400, output: 12 } },
          ],
          // Iteration 2: reads the failure in its prompt, adds, and runs the tests itself.
          [
            { tool: claude.readFile('src/add.sh'), usage: { input: 2000, output: 30 } },
            {
              tool: claude.editFile('src/add.sh', '$2 - $1', '$1 + $2'),
              usage: { input: 2100, output: 50 },
            },
            { tool: claude.runCommand('sh test.sh'), usage: { input: 2200, output: 20 } },
            {
              text: 'Fixed: add adds its operands, and sh test.sh passes.',
              usage: { input: 2300, output: 25, cacheWrite: 300 },
            },
          ],
        ],
      });
      const { ticketId, taskId } = await submitWorkOrder(
        [
          '---',
          'title: Fix add',
          'agent: claude-code',
          `repo: ${repo}`,
          'clone_branch: main',
          'push_branch: drover/fix-add',
          'acceptance_commands:',
          '  - sh test.sh',
          'max_iterations: 2',
          'allowed_paths: ["src/**"]',
          '---',
          '',
          'Make `sh test.sh` pass: `src/add.sh` should print the sum of its two arguments.',
          '',
        ].join('\n'),
      );

      const done = await succeeded(server, ticketId, taskId);
      expect(done.runs).toHaveLength(1);
      const run = done.runs[0];

      // Every model call carried the runner's key; one CLI session per iteration.
      const main = mainRequests(server);
      expect(new Set(server.requests.map((r) => r.apiKey))).toEqual(new Set([API_KEY]));
      expect(main.map((r) => r.at)).toEqual([
        { session: 0, turn: 0 },
        { session: 0, turn: 1 },
        { session: 0, turn: 2 },
        { session: 1, turn: 0 },
        { session: 1, turn: 1 },
        { session: 1, turn: 2 },
        { session: 1, turn: 3 },
      ]);
      // The first prompt is the work order's body and its acceptance command; the second
      // also carries what the acceptance command printed when it failed.
      const firstPrompt = userText(main[0]);
      const secondPrompt = userText(main[3]);
      expect(firstPrompt).toContain('`src/add.sh` should print the sum of its two arguments');
      expect(firstPrompt).toContain('- `sh test.sh`');
      expect(firstPrompt).not.toContain('add 2 3: expected 5');
      expect(secondPrompt).toContain('`src/add.sh` should print the sum of its two arguments');
      expect(secondPrompt).toContain('add 2 3: expected 5, got 1');
      // Claude Code ran the tests itself through its Bash tool, in the sandbox.
      expect(main[6]?.conversation?.toolResults.at(-1)?.output.trim()).toBe('all tests passed');

      // The branch is on the remote, and it changes only what Claude Code edited.
      expect(await git(repo, 'show', 'drover/fix-add:src/add.sh')).toBe(
        '#!/bin/sh\necho $(( $1 + $2 ))\n',
      );
      expect(await git(repo, 'diff', '--name-only', 'main', 'drover/fix-add')).toBe('src/add.sh\n');
      const pushedDiff = await git(repo, 'diff', 'main', 'drover/fix-add');
      const apiDiff = await (
        await fetch(`${stack().baseUrl}/runs/${run.id}/diff`, {
          headers: { authorization: `Bearer ${stack().apiKey}` },
        })
      ).text();
      const changedLines = (patch: string) =>
        patch.split('\n').filter((l) => /^[-+](?![-+]{2} )/.test(l));
      expect(changedLines(apiDiff)).toEqual(['-echo $(( $1 - $2 ))', '+echo $(( $1 + $2 ))']);
      expect(changedLines(apiDiff)).toEqual(changedLines(pushedDiff));

      // The run's result holds what Claude Code printed: its answer, tokens and cost.
      const printed = await claudeResults(run.id);
      expect(printed.map((r) => r.result)).toEqual([
        'Swapped the operands of add.',
        'Fixed: add adds its operands, and sh test.sh passes.',
      ]);
      // Claude Code sums its session's usage: the script's figures, per iteration.
      expect(printed.map((r) => r.usage)).toMatchObject([
        {
          input_tokens: 1200 + 1300 + 1400,
          output_tokens: 40 + 60 + 12,
          cache_read_input_tokens: 500,
          cache_creation_input_tokens: 0,
        },
        {
          input_tokens: 2000 + 2100 + 2200 + 2300,
          output_tokens: 30 + 50 + 20 + 25,
          cache_read_input_tokens: 0,
          cache_creation_input_tokens: 300,
        },
      ]);
      const result = ResultJson.parse(JSON.parse(await artifact(run.id, 'result.json')));
      expect(result.iterationDetails.map((i) => i.agent)).toEqual(
        printed.map((r) => ({
          exitCode: 0,
          finalMessage: r.result,
          costUsd: r.total_cost_usd,
          inputTokens:
            r.usage.input_tokens +
            r.usage.cache_read_input_tokens +
            r.usage.cache_creation_input_tokens,
          outputTokens: r.usage.output_tokens,
        })),
      );
      const totalCost = printed.reduce((sum, r) => sum + r.total_cost_usd, 0);
      expect(totalCost).toBeGreaterThan(0);
      expect(Number(run.costUsd)).toBeCloseTo(totalCost, 6);
      expect([run.inputTokens, run.outputTokens]).toEqual([3900 + 500 + 8600 + 300, 112 + 125]);
      expect(run.result).toMatchObject({
        agent: 'claude-code',
        outcome: 'SUCCEEDED',
        iterations: 2,
        inputTokens: 13_300,
        outputTokens: 237,
        pushed: { branch: 'drover/fix-add' },
        sandbox: { driver: 'docker' },
        egress: { policy: 'provider', denied: [] },
      });
    }),
    180_000,
  );
  it(
    'ends an attempt whose provider kept answering 429 RATE_LIMITED, retries it no sooner than the stated wait, and succeeds',
    logged(async () => {
      const repo = await calculator('rate-limited');
      const statedSeconds = 3;
      const server = await scriptedClaude({
        sessions: [
          [
            // Claude Code tries 4 times (CLAUDE_CODE_MAX_RETRIES=3), then gives up.
            {
              status: 429,
              retryAfterSeconds: statedSeconds,
              message: `Rate limit reached for requests per minute. Please try again in ${statedSeconds}s.`,
              repeat: 4,
            },
            // The next attempt's CLI starts over in the same session, and is answered.
            { tool: claude.readFile('src/add.sh') },
            { tool: claude.editFile('src/add.sh', '$1 - $2', '$1 + $2') },
            { text: 'add adds now.' },
          ],
        ],
      });
      const { ticketId, taskId } = await submitWorkOrder(
        [
          '---',
          'title: Fix add, rate limited',
          'agent: claude-code',
          `repo: ${repo}`,
          'clone_branch: main',
          'acceptance_commands: ["sh test.sh"]',
          // A short backoff: a wait of seconds can only come from the stated retry-after.
          'retry: { max_attempts: 3, backoff_seconds: 0.2 }',
          '---',
          '',
          'Make `sh test.sh` pass.',
          '',
        ].join('\n'),
      );

      const done = await succeeded(server, ticketId, taskId);
      expect(done.runs.map((r) => [r.attempt, r.status, r.errorClass])).toEqual([
        [1, 'FAILED', 'RATE_LIMITED'],
        [2, 'SUCCEEDED', null],
      ]);
      const [limited, retried] = done.runs;

      // The CLI made its own four tries, each refused with the retry-after header, and
      // waited that long between them before it gave up.
      const refused = mainRequests(server).filter((r) => r.status === 429);
      expect(refused).toHaveLength(4);
      const ms = (at: string | null) => new Date(at as string).getTime();
      expect(ms(limited.finishedAt) - ms(limited.startedAt)).toBeGreaterThanOrEqual(
        3 * statedSeconds * 1000,
      );
      // Attempt 1 recorded the stated wait; attempt 2 came no sooner.
      expect(limited.errorMessage).toContain(
        `its provider refused (rate limit, overload or quota); it asked to retry after ${statedSeconds} s`,
      );
      expect(limited.result).toMatchObject({ rateLimit: { retryAfterMs: statedSeconds * 1000 } });
      const waited = ms(retried.dispatchedAt) - ms(limited.finishedAt);
      expect(waited).toBeGreaterThanOrEqual(statedSeconds * 1000);
      process.stdout.write(
        `attempt 1 (${ms(limited.finishedAt) - ms(limited.startedAt)} ms, RATE_LIMITED) to attempt 2 dispatched: ${waited} ms\n`,
      );
      expect(retried.result).toMatchObject({ outcome: 'SUCCEEDED', rateLimit: null });
      expect(await git(repo, 'status', '--porcelain')).toBe('');
    }),
    180_000,
  );
  it(
    'runs examples/claude-code.md as the README submits it (`drover submit ... --wait`)',
    logged(async () => {
      const fizzbuzz = [
        '#!/bin/sh',
        'i=1',
        'while [ "$i" -le 100 ]; do',
        '  if [ $((i % 15)) -eq 0 ]; then echo FizzBuzz',
        '  elif [ $((i % 3)) -eq 0 ]; then echo Fizz',
        '  elif [ $((i % 5)) -eq 0 ]; then echo Buzz',
        '  else echo "$i"; fi',
        '  i=$((i + 1))',
        'done',
        '',
      ].join('\n');
      const server = await scriptedClaude({
        sessions: [
          [{ tool: claude.writeFile('fizzbuzz.sh', fizzbuzz) }, { text: 'Wrote fizzbuzz.sh.' }],
        ],
      });
      const cli = await run(
        process.execPath,
        [CLI_BIN, 'submit', 'examples/claude-code.md', '--wait'],
        { cwd: ROOT, env: cliEnv(stack()), timeout: 150_000 },
      );
      expect(cli.stdout).toMatch(/Write FizzBuzz with Claude Code +SUCCEEDED/);
      expectScriptPlayed(server);
      // The work order's body is Claude Code's prompt, with both acceptance commands.
      const example = await readFile(join(ROOT, 'examples/claude-code.md'), 'utf8');
      const prompt = userText(mainRequests(server)[0]);
      const body = example.slice(example.indexOf('\n---\n') + 5).trim();
      expect(body).toMatch(/^Write a POSIX shell script `fizzbuzz.sh`/);
      expect(prompt).toContain(body);
      expect(prompt).toContain('- `test "$(sh fizzbuzz.sh | wc -l)" -eq 100`');
    }),
    180_000,
  );
});
