import {
  isCliAgent,
  TaskInput,
  type AgentName,
  type AnalysisStage,
  type CreateExperiment,
  type Issue,
  type SubmitExperiment,
  type SubmitTicketInput,
  type TrialRecord,
} from '@drover/contracts';

/** A swept task as its document gave it: one task, and the document's description. */
export interface SweepTemplate {
  name: string;
  task: TaskInput;
  /** A work order's body when its own agent was not a CLI agent: the prompt of a sweep. */
  description?: string;
  /** The document's ticket title. */
  title: string;
}

/** What an agent's trial of a task is given; the rest of the task is common to all agents. */
const PER_AGENT = ['prompt', 'model', 'context_files', 'solution', 'steps'] as const;
/** Pipeline settings of a template that mean nothing in a sweep. */
const DROPPED = [
  'key',
  'title',
  'agent',
  'depends_on',
  'when',
  'on_failure',
  'requires_approval',
  'approval_timeout',
  'phase',
] as const;

type Expanded = {
  ok: true;
  request: Omit<CreateExperiment, 'ticket'> & { ticket: SubmitTicketInput };
};

/**
 * A sweep as one ticket: each task run by each agent (each CLI agent with each
 * model) `n_trials` times, every trial a task of its own that may fail without
 * failing the experiment (`on_failure: continue`); with an analysis stage, a
 * task per trial that runs only when the trial did not succeed. Problems name
 * the task and the agent: a baseline `oracle` needs the task's `solution`, a CLI
 * agent its prompt (the work order's body), `command` its `steps`.
 */
export function expandSweep(
  submit: SubmitExperiment,
  templates: readonly SweepTemplate[],
): Expanded | { ok: false; issues: Issue[] } {
  const issues: Issue[] = [];
  const keys = new Set<string>();
  const tasks: SubmitTicketInput['tasks'] = [];
  const trials: TrialRecord[] = [];
  for (const [i, template] of templates.entries()) {
    for (const agent of submit.agents) {
      const models = isCliAgent(agent) ? (submit.models ?? [template.task.model ?? null]) : [null];
      for (const [m, model] of models.entries()) {
        const spec = trialSpec(template, agent, model);
        const checked = TaskInput.safeParse({ key: 'probe', ...spec, agent });
        if (!checked.success) {
          for (const issue of checked.error.issues) {
            issues.push({
              path: `tasks.${i}`,
              message: `${template.name} cannot run with ${agent}: ${issue.path.join('.') || 'task'}: ${issue.message}`,
            });
          }
          continue;
        }
        for (let n = 1; n <= submit.n_trials; n++) {
          const cell = models.length > 1 ? `-m${m + 1}` : '';
          const key = uniqueKey(keys, `${slug(template.name)}-${agent}${cell}-${n}`);
          tasks.push({
            ...spec,
            key,
            title: `${template.name} / ${agent}${model ? ` / ${model}` : ''} / trial ${n}`,
            agent,
            on_failure: 'continue',
          });
          trials.push({ key, taskName: template.name, agent, model, trial: n, role: 'trial' });
          if (submit.analysis) {
            const analysisKey = uniqueKey(keys, `${key}-why`);
            tasks.push(analysisTask(submit.analysis, analysisKey, key, template, agent, model));
            trials.push({
              key: analysisKey,
              taskName: template.name,
              agent,
              model,
              trial: n,
              role: 'analysis',
            });
          }
        }
      }
    }
  }
  if (issues.length) return { ok: false, issues };
  return {
    ok: true,
    request: {
      name: submit.name ?? null,
      agents: submit.agents,
      models: submit.models ?? [],
      nTrials: submit.n_trials,
      analysis: submit.analysis ?? null,
      trials,
      ticket: { title: 'experiment', priority: submit.priority, tasks },
    },
  };
}

/** The template as `agent` runs it: the common fields, and what that agent takes. */
function trialSpec(template: SweepTemplate, agent: AgentName, model: string | null) {
  const spec: Record<string, unknown> = { ...template.task };
  for (const field of [...DROPPED, ...PER_AGENT]) delete spec[field];
  const { task } = template;
  if (isCliAgent(agent)) {
    spec.prompt = task.prompt ?? template.description;
    if (model) spec.model = model;
    if (task.context_files) spec.context_files = task.context_files;
  } else if (agent === 'oracle') {
    spec.solution = task.solution;
  } else if (agent === 'command') {
    spec.steps = task.steps;
  }
  return spec;
}

/**
 * The analysis of one trial: it runs when the trial did not succeed, and writes
 * `{"category": ..., "summary": ...}` to $DROVER_OUTPUT. A command sees the
 * trial as TRIAL_* variables (the values arrive as variables, never as shell
 * text); an agent is asked in its prompt.
 */
function analysisTask(
  stage: AnalysisStage,
  key: string,
  trialKey: string,
  template: SweepTemplate,
  agent: string,
  model: string | null,
) {
  const common = {
    key,
    title: `why ${trialKey} failed`,
    depends_on: [trialKey],
    when: `steps.${trialKey}.status != "SUCCEEDED"`,
    on_failure: 'continue' as const,
  };
  const facts = [
    `TRIAL_TASK=${shellWord(template.name)}`,
    `TRIAL_AGENT=${shellWord(agent)}`,
    `TRIAL_MODEL=${shellWord(model ?? '')}`,
    `TRIAL_STATUS={{steps.${trialKey}.status}}`,
    `TRIAL_ERROR={{steps.${trialKey}.error}}`,
  ];
  if ('command' in stage) {
    return {
      ...common,
      agent: 'command' as const,
      steps: [{ name: 'analysis', run: `export ${facts.join(' ')}\n${stage.command}` }],
    };
  }
  const prompt = [
    stage.prompt ??
      'A trial of an evaluation task failed. Classify the failure in one short category (for example: wrong-solution, timeout, environment, tooling, gave-up) and summarise why in one sentence.',
    `Task: ${template.name}. Agent: ${agent}${model ? `, model ${model}` : ''}.`,
    `The trial ended {{steps.${trialKey}.status}} with: {{steps.${trialKey}.error}}`,
    'Write your answer as JSON {"category": "...", "summary": "..."} to the file named by the DROVER_OUTPUT environment variable.',
  ].join('\n\n');
  return {
    ...common,
    agent: stage.agent,
    prompt,
    ...(stage.model ? { model: stage.model } : {}),
  };
}

/** A fixed value as one shell word (names and agents are plain, but quoting costs nothing). */
function shellWord(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function slug(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 30)
    .replace(/-+$/, '');
  return s || 'task';
}

/** `base`, or `base-2`, `base-3` ... : the first not taken (keys stay within 63 characters). */
function uniqueKey(taken: Set<string>, base: string): string {
  const stem = base.slice(0, 56);
  let key = stem;
  for (let n = 2; taken.has(key); n++) key = `${stem}-${n}`;
  taken.add(key);
  return key;
}
