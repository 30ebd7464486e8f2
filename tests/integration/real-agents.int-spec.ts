import { TaskSpec } from '@drover/contracts';
import { composePrompt } from '@drover/execution';
import {
  NOTES,
  realAgentTests,
  RUNNER_KEYS,
  scriptedEdit,
  type ScriptedEdit,
} from './support/real-agent-run';

// Each real agent CLI in the real agent image, run by the runner's RunExecutor through
// the DockerDriver with its default `provider` egress: the runner's provider endpoints
// point at a scripted model server on the host's loopback, which the container reaches
// only through its run's proxy. The CLI reads, edits and writes files and runs a command
// with its own tools, as the script tells it.

const AGENTS: ScriptedEdit['agent'][] = ['claude-code', 'codex', 'gemini-cli', 'opencode'];

/**
 * Claude Sonnet 4.5's list price per million tokens (input, output), which Claude Code and
 * opencode's bundled catalogue price it at; the other two CLIs report no cost.
 */
const SONNET_PRICE = { input: 3, output: 15 };

/** Requests each CLI's run may have refused by its egress proxy: the only one is opencode's. */
const EXPECTED_DENIED: Record<ScriptedEdit['agent'], unknown[]> = {
  'claude-code': [],
  codex: [],
  'gemini-cli': [],
  // Its startup asks the npm registry for its latest version, whatever the settings say.
  opencode: [{ target: 'registry.npmjs.org:443', count: 1, reason: 'not allowed' }],
};

/** What the CLI itself printed: its final message, tokens and cost, read from its own output. */
interface Printed {
  finalMessage: string | null;
  inputTokens: number;
  outputTokens: number;
  costUsd: number | null;
}

const json = (line: string) => JSON.parse(line) as Record<string, unknown>;
const jsonLines = (stdout: string[]) =>
  stdout.filter((line) => line.startsWith('{"')).map((line) => json(line));

/** Each CLI's printed report, read the way a person reads it (not through the adapter). */
const PRINTED: Record<ScriptedEdit['agent'], (stdout: string[]) => Printed> = {
  'claude-code': (stdout) => {
    const result = json(stdout.at(-1) ?? '{}') as {
      result: string;
      total_cost_usd: number;
      usage: { input_tokens: number; output_tokens: number };
    };
    return {
      finalMessage: result.result,
      inputTokens: result.usage.input_tokens,
      outputTokens: result.usage.output_tokens,
      costUsd: result.total_cost_usd,
    };
  },
  codex: (stdout) => {
    const events = jsonLines(stdout) as {
      type: string;
      item?: { type: string; text: string };
      usage?: { input_tokens: number; output_tokens: number };
    }[];
    const turn = events.filter((e) => e.type === 'turn.completed');
    expect(turn).toHaveLength(1);
    return {
      finalMessage: events.findLast((e) => e.item?.type === 'agent_message')?.item?.text ?? null,
      inputTokens: turn[0]?.usage?.input_tokens ?? NaN,
      outputTokens: turn[0]?.usage?.output_tokens ?? NaN,
      costUsd: null,
    };
  },
  'gemini-cli': (stdout) => {
    const report = JSON.parse(stdout.slice(stdout.indexOf('{')).join('\n')) as {
      response: string;
      stats: { models: Record<string, { tokens: { prompt: number; candidates: number } }> };
    };
    // One model only: the pinned model, no router.
    expect(Object.keys(report.stats.models)).toEqual(['gemini-2.5-pro']);
    const tokens = report.stats.models['gemini-2.5-pro']?.tokens;
    return {
      finalMessage: report.response,
      inputTokens: tokens?.prompt ?? NaN,
      outputTokens: tokens?.candidates ?? NaN,
      costUsd: null,
    };
  },
  opencode: (stdout) => {
    const events = jsonLines(stdout) as {
      type: string;
      part: { text?: string; cost?: number; tokens?: { input: number; output: number } };
    }[];
    const steps = events.filter((e) => e.type === 'step_finish').map((e) => e.part);
    const sum = (pick: (step: (typeof steps)[number]) => number) =>
      steps.reduce((total, step) => total + pick(step), 0);
    return {
      finalMessage: events.findLast((e) => e.type === 'text')?.part.text ?? null,
      inputTokens: sum((step) => step.tokens?.input ?? NaN),
      outputTokens: sum((step) => step.tokens?.output ?? NaN),
      costUsd: sum((step) => step.cost ?? NaN),
    };
  },
};

const EXPECTED_DIFF = [
  'diff --git a/NOTES.md b/NOTES.md',
  'new file mode 100644',
  expect.stringMatching(/^index 0000000\.\.[0-9a-f]{7}$/),
  '--- /dev/null',
  '+++ b/NOTES.md',
  '@@ -0,0 +1 @@',
  `+${NOTES.content.trimEnd()}`,
  'diff --git a/src/greeting.txt b/src/greeting.txt',
  expect.stringMatching(/^index [0-9a-f]{7}\.\.[0-9a-f]{7} 100644$/),
  '--- a/src/greeting.txt',
  '+++ b/src/greeting.txt',
  '@@ -1 +1 @@',
  '-greeting = world',
  '+greeting = drover',
  '',
];

const real = realAgentTests();

describe.each(AGENTS)('the real %s in the agent image', (agent) => {
  it('edits the repository with its own tools through the provider egress, and the run reports what it printed', async () => {
    const edit = scriptedEdit(agent);
    const server = await real.serve({ script: edit.script });
    const spec = { prompt: edit.prompt, model: edit.model, acceptance_commands: ['sh check.sh'] };
    const run = await real.runner.run(agent, spec, server);
    const { outcome, reports } = run;

    expect({ outcome: outcome.outcome, error: outcome.errorMessage }).toEqual({
      outcome: 'SUCCEEDED',
      error: null,
    });
    expect({ problems: server.problems, remaining: server.remaining() }).toEqual({
      problems: [],
      remaining: [],
    });

    // The workspace diff is the scripted edit and nothing else.
    expect((await run.artifact('diff.patch')).split('\n')).toEqual(EXPECTED_DIFF);
    expect(outcome.result?.filesChanged).toEqual([
      { path: 'NOTES.md', status: 'added' },
      { path: 'src/greeting.txt', status: 'modified' },
    ]);

    // The figures: as the CLI printed them, and as the script answered them.
    const printed = PRINTED[agent](reports.stream('stdout'));
    const scripted = {
      inputTokens: edit.usage.reduce((sum, turn) => sum + turn.input, 0),
      outputTokens: edit.usage.reduce((sum, turn) => sum + turn.output, 0),
    };
    const listPrice =
      (scripted.inputTokens * SONNET_PRICE.input + scripted.outputTokens * SONNET_PRICE.output) /
      1e6;
    const { costUsd, ...figures } = printed;
    expect(figures).toEqual({ finalMessage: edit.finalMessage, ...scripted });
    if (agent === 'claude-code' || agent === 'opencode') expect(costUsd).toBeCloseTo(listPrice, 9);
    else expect(costUsd).toBeNull();
    const result = JSON.parse(await run.artifact('result.json')) as {
      iterationDetails: { agent: Record<string, unknown> }[];
      costUsd: number | null;
      inputTokens: number;
      outputTokens: number;
      egress: unknown;
    };
    expect(result.iterationDetails[0]?.agent).toMatchObject({ exitCode: 0, ...printed });
    expect(result).toMatchObject({
      costUsd: printed.costUsd,
      inputTokens: printed.inputTokens,
      outputTokens: printed.outputTokens,
    });
    expect(outcome.result).toMatchObject({
      costUsd: printed.costUsd,
      inputTokens: printed.inputTokens,
      outputTokens: printed.outputTokens,
    });

    // What the CLI sent: the prompt verbatim, the runner's key, the model asked for.
    const main = server.requests.filter((request) => request.kind === 'main');
    expect(main.map((request) => request.at?.turn)).toEqual([0, 1, 2, 3, 4]);
    const prompt = composePrompt(TaskSpec.parse({ repo: real.runner.source, ...spec }), [], []);
    expect(main[0]?.conversation?.userTexts).toContain(prompt);
    expect(server.requests.map((request) => request.apiKey)).toEqual(
      server.requests.map(() => RUNNER_KEYS[edit.keyEnv]),
    );
    expect(new Set(main.map((request) => request.conversation?.model))).toEqual(
      new Set([edit.model.replace(/^anthropic\//, '')]),
    );
    // Its tools really ran in the workspace: their results came back to the model.
    const results = main.map((request) => request.conversation?.toolResults.at(-1)?.output ?? '');
    expect(results[1]).toContain('greeting = world');
    expect(results[4]).toContain('check passed');

    // The model endpoint was allowed, through the run's proxy; nothing else was reached.
    const endpoint = new URL(server.url).host;
    expect(reports.stream('system')).toContain(
      `egress: provider: only ${endpoint}, through the run's proxy`,
    );
    expect(result.egress).toEqual({
      policy: 'provider',
      allowed: [endpoint],
      denied: EXPECTED_DENIED[agent],
    });
  }, 120_000);
});
