import { waitFor } from '@drover/testing';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// Sweeps through the HTTP API, run for real by the stack's runner: baselines,
// trials, the analysis of failed trials, the matrix and the verdicts.

interface Experiment {
  id: string;
  name: string;
  ticketId: string;
  status: string;
  matrix: {
    agent: string;
    model: string | null;
    trials: number;
    passed: number;
    passRate: number | null;
  }[];
  tasks: { name: string; verdict: string; failures: Record<string, number> }[];
  trials: { agent: string; status: string; analysis: { category: string | null } | null }[];
}
interface ErrorAnswer {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}

let stack: InProcessStack;

beforeAll(async () => {
  stack = await startInProcessStack();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
}, 30_000);

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.baseUrl}${path}`, {
    method,
    headers: {
      ...stack.auth,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json: unknown = await res.json();
  return { status: res.status, body: json };
}

/** A work order whose acceptance wants answer.txt to say 42; `steps` is the command agent's try. */
function workOrder(solution: string, steps: string, acceptance = 'grep -q 42 answer.txt') {
  return [
    '---',
    'title: write the answer',
    `acceptance_commands: [${JSON.stringify(acceptance)}]`,
    `solution: ${JSON.stringify(solution)}`,
    'steps:',
    `  - run: ${JSON.stringify(steps)}`,
    '---',
    'Write 42 to answer.txt.',
  ].join('\n');
}

const ANALYSIS =
  'printf \'{"category": "wrong-answer", "summary": "%s by %s"}\' "$TRIAL_STATUS" "$TRIAL_AGENT" > "$DROVER_OUTPUT"';

describe('POST /experiments', () => {
  it('runs every task by every agent n times, analyses the failures and gives a verdict per task', async () => {
    const res = await call('POST', '/experiments', {
      agents: ['nop', 'oracle', 'command'],
      n_trials: 2,
      analysis: { command: ANALYSIS },
      tasks: [
        { name: 'answer', document: workOrder('echo 42 > answer.txt', 'echo 41 > answer.txt') },
        { name: 'always-passes', document: workOrder('true', 'true', 'true') },
        { name: 'broken-solution', document: workOrder('exit 1', 'echo 42 > answer.txt') },
      ],
    });
    expect(res.status).toBe(201);
    const created = res.body as Experiment;
    expect(created.name).toMatch(/^[a-z]+-[a-z]+-\d{3}$/);
    const done = await waitFor(
      async () => {
        const got = (await call('GET', `/experiments/${created.id}`)).body as Experiment;
        return got.status === 'SUCCEEDED' ? got : undefined;
      },
      'the experiment to finish',
      60_000,
    );
    expect(done.matrix).toEqual([
      expect.objectContaining({ agent: 'command', model: null, trials: 6, passed: 4 }),
      expect.objectContaining({ agent: 'nop', trials: 6, passed: 2 }),
      expect.objectContaining({ agent: 'oracle', trials: 6, passed: 4 }),
    ]);
    const verdicts = Object.fromEntries(done.tasks.map((t) => [t.name, t.verdict]));
    expect(verdicts).toEqual({
      answer: 'unsolved',
      'always-passes': 'trivial',
      'broken-solution': 'broken',
    });
    const answer = done.tasks.find((t) => t.name === 'answer');
    expect(answer?.failures).toEqual({ 'wrong-answer': 4 });
    const failed = done.trials.filter((t) => t.status === 'FAILED');
    expect(failed.every((t) => t.analysis?.category === 'wrong-answer')).toBe(true);
    const passed = done.trials.filter((t) => t.status === 'SUCCEEDED');
    expect(passed.every((t) => t.analysis === null || t.analysis.category === null)).toBe(true);

    const listed = await call('GET', '/experiments');
    expect((listed.body as { items: { id: string; trials: number }[] }).items[0]).toMatchObject({
      id: created.id,
      trials: 18,
    });
    const deleted = await call('DELETE', `/experiments/${created.id}`);
    expect(deleted.status).toBe(200);
    expect((await call('GET', `/experiments/${created.id}`)).status).toBe(404);
  }, 90_000);

  it('names the task and agent that cannot run, and the line of a bad document; writes nothing', async () => {
    const before = await stack.env.prisma.experiment.count();
    const noSolution = await call('POST', '/experiments', {
      agents: ['oracle'],
      tasks: [{ name: 'plain', document: '---\ntitle: t\nsteps: [{run: "true"}]\n---\n' }],
    });
    expect(noSolution.status).toBe(422);
    expect((noSolution.body as ErrorAnswer).error).toMatchObject({ code: 'INVALID_SWEEP' });
    expect((noSolution.body as ErrorAnswer).error.message).toContain(
      'plain cannot run with oracle',
    );

    const badLine = await call('POST', '/experiments', {
      agents: ['nop'],
      tasks: [{ name: 'bad', document: '---\ntitle: t\nmax_iterations: lots\n---\n' }],
    });
    expect(badLine.status).toBe(422);
    expect((badLine.body as ErrorAnswer).error.message).toContain('bad:3:');

    const twice = await call('POST', '/experiments', {
      agents: ['nop', 'nop'],
      tasks: [{ name: 'x', document: '---\ntitle: t\n---\n' }],
    });
    expect(twice.status).toBe(422);
    expect(await stack.env.prisma.experiment.count()).toBe(before);
  });

  it('refuses a name the project already has', async () => {
    const body = {
      name: 'nightly',
      agents: ['nop'],
      tasks: [{ name: 'x', document: '---\ntitle: t\n---\n' }],
    };
    expect((await call('POST', '/experiments', body)).status).toBe(201);
    const again = await call('POST', '/experiments', body);
    expect(again.status).toBe(409);
    expect((again.body as ErrorAnswer).error.code).toBe('NAME_TAKEN');
  });
});
