import type { ProviderLoad, Served } from '@drover/contracts/api';

/** Active tasks of a provider, of every project and of the caller's (`activeByProvider`). */
export interface ProviderActivity {
  provider: string;
  running: number;
  runningInProject: number;
}

/**
 * Each provider's active tasks against its limit: every provider a limit names
 * (`default` included) and every provider with active tasks, whose limit is then
 * `default`'s (as the scheduler applies it), sorted by name.
 */
export function providerLoads(
  limits: Readonly<Record<string, number>>,
  active: readonly ProviderActivity[],
): Served<typeof ProviderLoad>[] {
  const byProvider = new Map(active.map((a) => [a.provider, a]));
  const names = new Set([...Object.keys(limits), ...byProvider.keys()]);
  return [...names].sort().map((provider) => ({
    provider,
    running: byProvider.get(provider)?.running ?? 0,
    runningInProject: byProvider.get(provider)?.runningInProject ?? 0,
    limit: Object.hasOwn(limits, provider) ? limits[provider] : (limits.default ?? 0),
  }));
}
