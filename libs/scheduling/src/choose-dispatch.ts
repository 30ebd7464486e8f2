export interface Candidate {
  id: string;
  provider: string;
  priority: number;
  /** When the task became ready (age ordering); ms since epoch. */
  readyAt: number;
}

export type Limits = Readonly<Record<string, number>> & { readonly default: number };

/** The concurrency limit of a provider: its own, else the default. */
export function limitFor(limits: Limits, provider: string): number {
  return Object.hasOwn(limits, provider) ? limits[provider] : limits.default;
}

/**
 * Picks which ready tasks to dispatch now: highest priority first, then oldest,
 * never more per provider than its limit minus what is already active, and at
 * most `batch` in all. Pure: the caller supplies state read under its lock.
 */
export function chooseDispatch(
  candidates: readonly Candidate[],
  active: Readonly<Record<string, number>>,
  limits: Limits,
  batch: number,
): Candidate[] {
  const free = new Map<string, number>();
  const room = (provider: string) => {
    if (!free.has(provider))
      free.set(provider, limitFor(limits, provider) - (active[provider] ?? 0));
    return free.get(provider) as number;
  };
  const ordered = [...candidates].sort(
    (a, b) => b.priority - a.priority || a.readyAt - b.readyAt || (a.id < b.id ? -1 : 1),
  );
  const chosen: Candidate[] = [];
  for (const c of ordered) {
    if (chosen.length >= batch) break;
    const left = room(c.provider);
    if (left <= 0) continue;
    free.set(c.provider, left - 1);
    chosen.push(c);
  }
  return chosen;
}
