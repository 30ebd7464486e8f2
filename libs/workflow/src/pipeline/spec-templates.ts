import type { TaskSpec } from '@drover/contracts';

/**
 * The texts of a task's spec that may hold templates, as submitted. The spec
 * itself holds their rendering once the task is released; these are what each
 * release (the first, and each after a rerun) renders again.
 */
export interface SpecTemplates {
  prompt?: string;
  solution?: string;
  /** Each step's `run`, by position. */
  steps?: string[];
  acceptance_commands: string[];
}

/** The templated texts of a spec not rendered yet. */
export function templatesOf(spec: TaskSpec): SpecTemplates {
  return {
    ...(spec.prompt !== undefined ? { prompt: spec.prompt } : {}),
    ...(spec.solution !== undefined ? { solution: spec.solution } : {}),
    ...(spec.steps ? { steps: spec.steps.map((s) => s.run) } : {}),
    acceptance_commands: [...spec.acceptance_commands],
  };
}

/**
 * The spec with its templated texts put back as submitted, and without the
 * values an earlier rendering bound (`template_env`): ready to render again.
 * Everything else (env answered since, workspace) stays as it is now.
 */
export function withTemplates(spec: TaskSpec, templates: SpecTemplates): TaskSpec {
  const rest: TaskSpec = { ...spec };
  delete rest.template_env;
  return {
    ...rest,
    ...(templates.prompt !== undefined ? { prompt: templates.prompt } : {}),
    ...(templates.solution !== undefined ? { solution: templates.solution } : {}),
    ...(rest.steps && templates.steps
      ? { steps: rest.steps.map((s, i) => ({ ...s, run: templates.steps?.[i] ?? s.run })) }
      : {}),
    acceptance_commands: [...templates.acceptance_commands],
  };
}
