import type { Resources } from './task-spec';

/** The names of a task's `resources`. */
export type ResourceName = keyof Resources;

/** The most of each resource a task may ask for; a resource left out (or 0) has no ceiling here. */
export type ResourceCeilings = Partial<Record<ResourceName, number>>;

/** A resource a task asked for above its ceiling. */
export interface ResourceOverCeiling {
  field: ResourceName;
  asked: number;
  ceiling: number;
}

/**
 * The resources `asked` for above `ceilings`, in the order the ceilings are
 * listed. Both the control plane (at submission) and the runner (before a run)
 * apply it: a task is refused above a ceiling, never clamped to it.
 */
export function resourcesOverCeilings(
  asked: Resources | undefined,
  ceilings: ResourceCeilings,
): ResourceOverCeiling[] {
  if (!asked) return [];
  const over: ResourceOverCeiling[] = [];
  for (const [field, ceiling] of Object.entries(ceilings) as [ResourceName, number][]) {
    const value = asked[field];
    if (value !== undefined && ceiling > 0 && value > ceiling) {
      over.push({ field, asked: value, ceiling });
    }
  }
  return over;
}
