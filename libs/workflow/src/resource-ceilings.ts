import {
  Resources,
  resourcesOverCeilings,
  type ResourceCeilings,
  type ResourceName,
  type TaskInput,
} from '@drover/contracts';
import type { QuotaRefusal } from './submission-quota';

/**
 * The ceilings a project's tasks are held to: the orchestrator's
 * (DROVER_MAX_TASK_*), and the project's own (`max_resources`, stored as given)
 * where they are lower. A project's own can never lift the orchestrator's.
 */
export function tighterCeilings(
  configured: ResourceCeilings = {},
  project: unknown,
): ResourceCeilings {
  const own = Resources.safeParse(project ?? {});
  const ceilings: ResourceCeilings = { ...configured };
  if (!own.success) return ceilings;
  for (const [field, value] of Object.entries(own.data) as [ResourceName, number][]) {
    const current = ceilings[field];
    ceilings[field] = current && current > 0 ? Math.min(current, value) : value;
  }
  return ceilings;
}

/**
 * The refusal (422) of a ticket whose tasks ask for more `resources` than the
 * control plane's ceilings (DROVER_MAX_TASK_*), naming each task and field: a
 * runner would refuse them anyway (its own RUNNER_MAX_*), after a dispatch.
 */
export function resourcesAboveCeilings(
  tasks: readonly Pick<TaskInput, 'resources'>[],
  ceilings: ResourceCeilings,
): QuotaRefusal | undefined {
  const details = tasks.flatMap((task, i) =>
    resourcesOverCeilings(task.resources, ceilings).map((over) => ({
      path: `tasks.${i}.resources.${over.field}`,
      message: `${over.asked} is above the ceiling ${over.ceiling}`,
    })),
  );
  if (!details.length) return undefined;
  return {
    ok: false,
    status: 422,
    error: {
      code: 'RESOURCES_ABOVE_CEILING',
      message: details.map((d) => `${d.path}: ${d.message}`).join('; '),
      details,
    },
  };
}
