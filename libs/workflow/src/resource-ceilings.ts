import { resourcesOverCeilings, type ResourceCeilings, type TaskInput } from '@drover/contracts';
import type { QuotaRefusal } from './submission-quota';

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
