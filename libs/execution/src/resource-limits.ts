import { resourcesOverCeilings, type ResourceCeilings, type Resources } from '@drover/contracts';
import { InvalidSpecError } from './workspace-errors';

/** The setting that holds each of a runner's ceilings, named in refusals. */
const CEILING_SETTINGS: Readonly<Record<keyof Resources, string>> = {
  memory_mb: 'RUNNER_MAX_MEMORY_MB',
  cpus: 'RUNNER_MAX_CPUS',
  pids: 'RUNNER_MAX_PIDS',
  tmpfs_mb: 'RUNNER_MAX_TMPFS_MB',
  disk_mb: 'RUNNER_MAX_DISK_MB',
};

/**
 * Refuses a task that asks for more than this runner allows (its RUNNER_MAX_*):
 * it is never run with more, nor clamped to less than it asked. Throws the
 * InvalidSpecError of the first resource over its ceiling, naming both.
 */
export function checkResourceCeilings(
  resources: Resources | undefined,
  ceilings: ResourceCeilings,
): void {
  const [over] = resourcesOverCeilings(resources, ceilings);
  if (!over) return;
  throw new InvalidSpecError(
    `resources.${over.field}`,
    `${over.asked} is above this runner's ceiling ${over.ceiling} (${CEILING_SETTINGS[over.field]})`,
  );
}
