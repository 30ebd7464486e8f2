import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RELEASE, runCommandSteps, type AgentContext, type AgentOutcome } from './command-agent';
import { ProcessDriver } from './process-driver';
import type { OpenedStep } from './secret-env';

type Stream = 'stdout' | 'stderr' | 'system';

let workspace: string;
const driver = new ProcessDriver(200);

beforeEach(async () => {
  workspace = await mkdtemp(join(tmpdir(), 'drover-command-agent-'));
});

afterEach(async () => {
  await rm(workspace, { recursive: true, force: true });
});

async function runSteps(
  steps: readonly OpenedStep[],
  signal: AbortSignal = new AbortController().signal,
): Promise<{ outcome: AgentOutcome; logs: [Stream, string][] }> {
  const logs: [Stream, string][] = [];
  const ctx: AgentContext = { workspace, driver, signal, log: (s, t) => logs.push([s, t]) };
  const outcome = await runCommandSteps(steps, ctx);
  return { outcome, logs };
}

const linesOf = (logs: readonly [Stream, string][], stream: Stream) =>
  logs.filter(([s]) => s === stream).map(([, text]) => text);

describe(runCommandSteps.name, () => {
  it('runs the steps in order in one shared workspace', async () => {
    const { outcome, logs } = await runSteps([
      { run: 'echo one > trail' },
      { name: 'append', run: 'echo two >> trail; cat trail' },
      { run: 'echo three >> trail; cat trail >&2' },
    ]);
    const { result, ...rest } = outcome;
    expect(rest).toEqual({
      outcome: 'SUCCEEDED',
      exitCode: 0,
      errorClass: null,
      errorMessage: null,
    });
    expect(Object.keys(result ?? {}).sort()).toEqual(['durationMs', 'steps']);
    expect(result?.steps).toBe(3);
    expect(result?.durationMs).toBeGreaterThanOrEqual(0);
    expect(linesOf(logs, 'stdout')).toEqual(['one', 'two']);
    expect(linesOf(logs, 'stderr')).toEqual(['one', 'two', 'three']);
    expect(await readFile(join(workspace, 'trail'), 'utf8')).toBe('one\ntwo\nthree\n');
  });

  it('announces each step by name, or by number, with the first line of its script', async () => {
    const { logs } = await runSteps([{ run: 'true' }, { name: 'build', run: 'echo a\necho b' }]);
    expect(linesOf(logs, 'system')).toEqual(['$ step 1: true', '$ build: echo a']);
    // The announcement comes before the step's own output.
    expect(logs.map(([s]) => s)).toEqual(['system', 'system', 'stdout', 'stdout']);
  });

  it('passes each step its env and cwd', async () => {
    const { outcome, logs } = await runSteps([
      { run: 'mkdir -p pkg/a' },
      { run: 'echo "$NAME"; pwd', cwd: 'pkg/a', env: { NAME: 'first' } },
      { run: 'echo "${NAME-unset}"' },
    ]);
    expect(outcome.outcome).toBe('SUCCEEDED');
    const stdout = linesOf(logs, 'stdout');
    expect(stdout[0]).toBe('first');
    expect(stdout[1].endsWith('/pkg/a')).toBe(true);
    expect(stdout[2]).toBe('unset');
  });

  it('stops at the first failing step with AGENT_FAILED naming it', async () => {
    const { outcome, logs } = await runSteps([
      { run: 'touch first' },
      { name: 'compile', run: 'echo broken >&2; exit 4' },
      { run: 'touch never' },
    ]);
    expect(outcome).toEqual({
      outcome: 'FAILED',
      exitCode: 4,
      errorClass: 'AGENT_FAILED',
      errorMessage: 'compile exited with 4',
      result: null,
    });
    expect(existsSync(join(workspace, 'first'))).toBe(true);
    expect(existsSync(join(workspace, 'never'))).toBe(false);
    expect(linesOf(logs, 'system')).toHaveLength(2);
    expect(linesOf(logs, 'stderr')).toEqual(['broken']);
  });

  it('names an unnamed failing step by its 1-based number', async () => {
    const { outcome } = await runSteps([{ run: 'true' }, { run: 'false' }]);
    expect(outcome.errorClass).toBe('AGENT_FAILED');
    expect(outcome.errorMessage).toBe('step 2 exited with 1');
  });

  it('says which signal killed a step', async () => {
    const { outcome } = await runSteps([{ name: 'crash', run: 'kill -9 $$' }]);
    expect(outcome).toMatchObject({
      outcome: 'FAILED',
      exitCode: null,
      errorClass: 'AGENT_FAILED',
      errorMessage: 'crash was killed by SIGKILL',
    });
  });

  it('gives TIMEOUT when a step outlives its timeout, and runs no later step', async () => {
    const { outcome } = await runSteps([
      { name: 'slow', run: 'sleep 30', timeout_seconds: 1 },
      { run: 'touch never' },
    ]);
    expect(outcome).toMatchObject({
      outcome: 'FAILED',
      errorClass: 'TIMEOUT',
      errorMessage: 'slow timed out after 1 s',
      result: null,
    });
    expect(existsSync(join(workspace, 'never'))).toBe(false);
  });

  it('gives CANCELLED when the run is aborted', async () => {
    const controller = new AbortController();
    const pending = runSteps(
      [{ name: 'wait', run: 'touch started; sleep 30' }, { run: 'touch never' }],
      controller.signal,
    );
    const started = join(workspace, 'started');
    const deadline = Date.now() + 5_000;
    while (!existsSync(started)) {
      if (Date.now() > deadline) throw new Error('step never started');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    controller.abort('CANCELLED');
    const { outcome } = await pending;
    expect(outcome).toMatchObject({
      outcome: 'FAILED',
      errorClass: 'CANCELLED',
      errorMessage: 'wait was stopped: the run was cancelled',
    });
    expect(existsSync(join(workspace, 'never'))).toBe(false);
  });

  it.each([
    ['TIMEOUT', 'FAILED', 'TIMEOUT', "wait was stopped: the task's timeout passed"],
    ['LEASE_LOST', 'FAILED', 'RUNNER_LOST', 'wait was stopped: the runner lost the lease'],
    [RELEASE, 'RELEASED', 'RUNNER_LOST', 'wait was stopped: the runner released the run'],
  ])(
    'gives the outcome an abort with reason %s calls for',
    async (reason, outcome, errorClass, errorMessage) => {
      const controller = new AbortController();
      controller.abort(reason);
      const { outcome: result } = await runSteps(
        [{ name: 'wait', run: 'sleep 30' }],
        controller.signal,
      );
      expect(result).toMatchObject({ outcome, errorClass, errorMessage });
    },
  );

  it('succeeds with zero steps run when given none', async () => {
    const { outcome, logs } = await runSteps([]);
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', result: { steps: 0 } });
    expect(logs).toEqual([]);
  });
});
