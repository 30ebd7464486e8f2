import { SubmitExperiment, TaskFields } from '@drover/contracts';
import { expandSweep, type SweepTemplate } from './sweep';

const template = (name: string, fields: Record<string, unknown>): SweepTemplate => ({
  name,
  title: name,
  task: TaskFields.parse({ key: 'probe', ...fields }),
});

const FIX = template('Fix Add', {
  prompt: 'Fix add().',
  solution: 'git apply fix.patch',
  steps: [{ run: 'true' }],
  acceptance_commands: ['npm test'],
  model: 'default-model',
  timeout: '10m',
});

function expand(body: Record<string, unknown>, templates = [FIX]) {
  return expandSweep(
    SubmitExperiment.parse({ tasks: [{ name: 'x', document: 'x' }], ...body }),
    templates,
  );
}

describe(expandSweep.name, () => {
  it('runs each task by each agent, each CLI agent with each model, n times, allowed to fail', () => {
    const result = expand({
      agents: ['claude-code', 'nop', 'oracle'],
      models: ['m-a', 'm-b'],
      n_trials: 2,
    });
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    const { tasks } = result.request.ticket;
    expect(tasks?.map((t) => t.key)).toEqual([
      'fix-add-claude-code-m1-1',
      'fix-add-claude-code-m1-2',
      'fix-add-claude-code-m2-1',
      'fix-add-claude-code-m2-2',
      'fix-add-nop-1',
      'fix-add-nop-2',
      'fix-add-oracle-1',
      'fix-add-oracle-2',
    ]);
    const byKey = Object.fromEntries((tasks ?? []).map((t) => [t.key, t]));
    // Each agent gets its own fields and the common ones; nothing of another agent's.
    expect(byKey['fix-add-claude-code-m2-1']).toMatchObject({
      agent: 'claude-code',
      model: 'm-b',
      prompt: 'Fix add().',
      acceptance_commands: ['npm test'],
      timeout: '10m',
      on_failure: 'continue',
    });
    expect(byKey['fix-add-claude-code-m2-1']).not.toHaveProperty('solution');
    expect(byKey['fix-add-nop-1']).not.toHaveProperty('prompt');
    expect(byKey['fix-add-nop-1']).not.toHaveProperty('model');
    expect(byKey['fix-add-oracle-1']).toMatchObject({ solution: 'git apply fix.patch' });
    expect(
      result.request.trials.filter((t) => t.agent === 'claude-code').map((t) => t.model),
    ).toEqual(['m-a', 'm-a', 'm-b', 'm-b']);
  });

  it("uses the task's own model when the sweep names none", () => {
    const result = expand({ agents: ['codex'] });
    if (!result.ok) throw new Error(JSON.stringify(result.issues));
    expect(result.request.ticket.tasks?.[0]).toMatchObject({ model: 'default-model' });
  });

  it('adds an analysis per trial that runs only when the trial did not succeed', () => {
    const command = expand({ agents: ['nop'], analysis: { command: 'sh classify.sh' } });
    if (!command.ok) throw new Error('refused');
    const analysis = command.request.ticket.tasks?.[1];
    expect(analysis).toMatchObject({
      key: 'fix-add-nop-1-why',
      depends_on: ['fix-add-nop-1'],
      when: 'steps.fix-add-nop-1.status != "SUCCEEDED"',
      agent: 'command',
      on_failure: 'continue',
    });
    const run = (analysis as { steps: { run: string }[] }).steps[0].run;
    expect(run).toContain("TRIAL_AGENT='nop'");
    expect(run).toContain('TRIAL_ERROR={{steps.fix-add-nop-1.error}}');
    expect(run.endsWith('\nsh classify.sh')).toBe(true);
    expect(command.request.trials.map((t) => t.role)).toEqual(['trial', 'analysis']);

    const agent = expand({ agents: ['nop'], analysis: { agent: 'claude-code', model: 'judge' } });
    if (!agent.ok) throw new Error('refused');
    expect(agent.request.ticket.tasks?.[1]).toMatchObject({ agent: 'claude-code', model: 'judge' });
    expect((agent.request.ticket.tasks?.[1] as { prompt: string }).prompt).toContain(
      '{{steps.fix-add-nop-1.error}}',
    );
  });

  it('names the task and agent that cannot run: an oracle without a solution, a CLI agent without a prompt', () => {
    const bare = template('bare', { steps: [{ run: 'true' }] });
    const result = expand({ agents: ['oracle', 'aider', 'command'] }, [bare]);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.message)).toEqual([
      'bare cannot run with oracle: solution: is required for the oracle agent',
      'bare cannot run with aider: prompt: is required for the aider agent',
    ]);
    expect(result.issues[0].path).toBe('tasks.0');
  });

  it('keeps keys unique and within 63 characters for long or clashing names', () => {
    const long = 'a'.repeat(100);
    const result = expand({ agents: ['nop'], n_trials: 1 }, [
      template(`${long}-one`, {}),
      template(`${long}-two`, {}),
    ]);
    if (!result.ok) throw new Error('refused');
    const keys = result.request.ticket.tasks?.map((t) => t.key) ?? [];
    expect(new Set(keys).size).toBe(2);
    expect(keys.every((k) => k.length <= 63 && /^[a-z0-9][a-z0-9_-]*$/.test(k))).toBe(true);
  });
});
