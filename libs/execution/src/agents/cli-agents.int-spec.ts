import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sandboxTestImage } from '@drover/testing';
import { DockerDriver, dockerClient } from '../docker-driver';
import type { CommandResult, SandboxLimits } from '../sandbox-driver';
import { CLI_AGENTS, CLI_AGENT_NAMES, providerKeys, type CliAgentName } from './cli-agents';

// Runs each adapter's script through the real DockerDriver in the busybox test image,
// whose fake claude, codex, gemini, opencode and aider (tools/sandbox-image) accept only
// the adapter's command line and print their CLI's output. A fake's final message names
// the prompt's first line and digest, the model and the *_API_KEY variables it saw.

const IMAGE = sandboxTestImage();
const RUNNER = `test-agents-${randomBytes(6).toString('hex')}`;
const LIMITS: SandboxLimits = {
  memoryBytes: 128 * 1024 * 1024,
  nanoCpus: 1_000_000_000,
  pids: 64,
  tmpfsBytes: 16 * 1024 * 1024,
};

/** A prompt the shell would act on if it ever parsed it: none of it may run. */
const PROMPT = [
  `Fix the bug $(touch /tmp/pwned) \`touch pwned\` '"\\ $HOME %s %d; touch pwned-too`,
  '',
  '\tsecond line: é * ? [a] ~ $((1+1)) && exit 1',
  '',
].join('\n');

/** The runner's environment: keys of five providers and secrets no CLI may see. */
const RUNNER_ENV = {
  ANTHROPIC_API_KEY: 'sk-ant-test',
  OPENAI_API_KEY: 'sk-openai-test',
  GEMINI_API_KEY: 'gemini-test',
  OPENROUTER_API_KEY: 'sk-or-test',
  DEEPSEEK_API_KEY: 'sk-deepseek-test',
  DROVER_API_KEY: 'drover-secret',
  DATABASE_URL: 'postgresql://postgres:secret@db/drover',
};

const EXPECTED: Record<CliAgentName, { model: string; keys: string[]; costUsd: number | null }> = {
  'claude-code': { model: 'claude-sonnet-4-5', keys: ['ANTHROPIC_API_KEY'], costUsd: 0.0123 },
  // The script hands the OpenAI key to `codex exec` as CODEX_API_KEY.
  codex: { model: 'gpt-5-codex', keys: ['CODEX_API_KEY', 'OPENAI_API_KEY'], costUsd: null },
  'gemini-cli': { model: 'gemini-2.5-pro', keys: ['GEMINI_API_KEY'], costUsd: null },
  opencode: {
    model: 'anthropic/claude-sonnet-4-5',
    keys: ['ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'GOOGLE_GENERATIVE_AI_API_KEY', 'OPENAI_API_KEY'],
    costUsd: 0.0123,
  },
  aider: {
    model: 'gemini/gemini-2.5-pro',
    keys: ['ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'OPENAI_API_KEY'],
    costUsd: 0.0123,
  },
};

/** The fake agent's work: a file in the workspace, unless the prompt's $(...) ever ran. */
const AGENT_WORK =
  '[ ! -e /tmp/pwned ] || exit 9; echo "iteration $DROVER_ITERATION" > agent-ran.txt';

function engineHost(): string {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  if (!host) {
    throw new Error(
      'DROVER_TEST_DOCKER_HOST is empty: no container engine for the agent CLI tests (install Podman or Docker; npm test installs Podman on a root machine with apt)',
    );
  }
  return host;
}

let driver: DockerDriver;
let workspace: string;

beforeAll(() => {
  driver = new DockerDriver({
    dockerHost: engineHost(),
    image: IMAGE,
    runnerId: RUNNER,
    limits: LIMITS,
    user: '1000:1000',
  });
});

beforeEach(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'drover-cli-agents-'));
  // The sandbox user (uid 1000) writes here; the runner chowns its workspaces instead.
  await chmod(workspace, 0o777);
});

afterEach(async () => {
  await rm(workspace, { recursive: true, force: true });
});

afterAll(async () => {
  // Without an engine, beforeAll has failed every test already, saying why.
  if (!process.env.DROVER_TEST_DOCKER_HOST) return;
  expect(await DockerDriver.reap(dockerClient(engineHost()), RUNNER)).toBe(0);
});

async function runAgent(
  name: CliAgentName,
  env: Record<string, string>,
): Promise<CommandResult & { stdout: string[]; stderr: string[] }> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const result = await driver.exec(
    workspace,
    { script: CLI_AGENTS[name].script(), env, timeoutMs: 20_000 },
    (stream, text) => (stream === 'stdout' ? stdout : stderr).push(text),
    new AbortController().signal,
  );
  return { ...result, stdout, stderr };
}

const finalMessage = (model: string, keys: string[]) =>
  [
    `prompt: ${PROMPT.split('\n')[0]}`,
    `prompt sha256: ${createHash('sha256').update(PROMPT).digest('hex')}`,
    `model: ${model}`,
    `keys: ${keys.join(',')}`,
  ].join('\n');

describe('CLI agents in the sandbox', () => {
  describe.each(CLI_AGENT_NAMES)('%s', (name) => {
    const expected = EXPECTED[name];

    it('gets the prompt and model verbatim and only its own keys, and its output parses', async () => {
      // A model no CLI knows, but one the shell would act on if the script let it.
      const model = `${expected.model} $(touch pwned-model) "'`;
      const run = await runAgent(name, {
        DROVER_PROMPT: PROMPT,
        DROVER_MODEL: model,
        DROVER_ITERATION: '2',
        FAKE_AGENT_SCRIPT: AGENT_WORK,
        ...providerKeys(name, RUNNER_ENV),
      });
      expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: [] });

      const usage = CLI_AGENTS[name].parse(run.stdout);
      expect(usage.finalMessage).toBe(finalMessage(model, expected.keys));
      expect(usage.inputTokens).toBe(1500);
      expect(usage.outputTokens).toBe(45);
      if (expected.costUsd === null) expect(usage.costUsd).toBeNull();
      else expect(usage.costUsd).toBeCloseTo(expected.costUsd, 9);

      // The agent's work landed; nothing in the prompt ran, in /tmp (checked by the fake) or here.
      expect(await readFile(join(workspace, 'agent-ran.txt'), 'utf8')).toBe('iteration 2\n');
      expect(await readdir(workspace)).toEqual(['agent-ran.txt']);
    });

    it('leaves the model flag out when DROVER_MODEL is empty', async () => {
      const run = await runAgent(name, {
        DROVER_PROMPT: PROMPT,
        DROVER_MODEL: '',
        ...providerKeys(name, RUNNER_ENV),
      });
      expect(run.exitCode).toBe(0);
      expect(CLI_AGENTS[name].parse(run.stdout).finalMessage).toBe(
        finalMessage('(default)', expected.keys),
      );
    });

    it("fails with the CLI's exit status when the agent's work fails", async () => {
      const run = await runAgent(name, {
        DROVER_PROMPT: PROMPT,
        DROVER_MODEL: expected.model,
        FAKE_AGENT_SCRIPT: 'exit 3',
        ...providerKeys(name, RUNNER_ENV),
      });
      expect(run.exitCode).toBe(3);
      expect(run.stderr.at(-1)).toMatch(/FAKE_AGENT_SCRIPT exited with 3$/);
    });
  });

  describe("the runner's provider base URLs", () => {
    // A URL the shell would act on if the script let it: it must arrive as one value.
    const odd = (path: string) => `http://127.0.0.1:9/$(touch pwned-url)'"/${path}`;

    it('gives Codex OPENAI_BASE_URL as its openai_base_url setting, which it reads instead', async () => {
      const url = odd('openai/v1');
      const run = await runAgent('codex', {
        DROVER_PROMPT: PROMPT,
        DROVER_MODEL: 'gpt-5.5',
        OPENAI_BASE_URL: url,
        ...providerKeys('codex', RUNNER_ENV),
      });
      expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: [] });
      expect(CLI_AGENTS.codex.parse(run.stdout).finalMessage).toBe(
        `${finalMessage('gpt-5.5', EXPECTED.codex.keys)}\nopenai_base_url: ${url}`,
      );
      expect(await readdir(workspace)).toEqual([]);
    });

    it('gives opencode ANTHROPIC_BASE_URL with the API version it expects', async () => {
      const url = odd('anthropic');
      const run = await runAgent('opencode', {
        DROVER_PROMPT: PROMPT,
        DROVER_MODEL: EXPECTED.opencode.model,
        ANTHROPIC_BASE_URL: `${url}/`,
        ...providerKeys('opencode', RUNNER_ENV),
      });
      expect({ exitCode: run.exitCode, stderr: run.stderr }).toEqual({ exitCode: 0, stderr: [] });
      expect(CLI_AGENTS.opencode.parse(run.stdout).finalMessage).toBe(
        `${finalMessage(EXPECTED.opencode.model, EXPECTED.opencode.keys)}\nANTHROPIC_BASE_URL: ${url}/v1`,
      );
      expect(await readdir(workspace)).toEqual([]);
    });
  });
});
