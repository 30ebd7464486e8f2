export interface Candidate {
  id: string;
  provider: string;
  /** The project the task belongs to (its quota of running tasks). */
  projectId: string;
  priority: number;
  /** When the task became ready (age ordering); ms since epoch. */
  readyAt: number;
}

export type Limits = Readonly<Record<string, number>> & { readonly default: number };

/** The concurrency limit of a provider: its own, else the default. */
export function limitFor(limits: Limits, provider: string): number {
  return Object.hasOwn(limits, provider) ? limits[provider] : limits.default;
}

/** Per-project limits of active (DISPATCHED or RUNNING) tasks. */
export interface ProjectLimits {
  /** Active tasks per project. */
  readonly active: Readonly<Record<string, number>>;
  /** A project's own limit; `Infinity` for none. */
  readonly limits: Readonly<Record<string, number>>;
  /** The limit of a project not in `limits`; `Infinity` for none. */
  readonly fallback: number;
}

/** No project is limited. */
export const UNLIMITED_PROJECTS: ProjectLimits = { active: {}, limits: {}, fallback: Infinity };

/**
 * The running-task limit of a project: the project row's own, else the configured
 * default; 0 in either place means no limit (`Infinity`).
 */
export function projectLimit(own: number | null, configured: number): number {
  const limit = own ?? configured;
  return limit > 0 ? limit : Infinity;
}

/** Room a project has left: its limit minus its active tasks, never below 0. */
export function projectRoom(projects: ProjectLimits, projectId: string): number {
  const limit = Object.hasOwn(projects.limits, projectId)
    ? projects.limits[projectId]
    : projects.fallback;
  return Math.max(0, limit - (projects.active[projectId] ?? 0));
}

/**
 * Picks which ready tasks to dispatch now: highest priority first, then oldest,
 * never more per provider than its limit minus what is already active, nor per
 * project more than its limit minus its active tasks, and at most `batch` in
 * all. A full provider or project is skipped, so it holds back no one else's
 * work. Pure: the caller supplies state read under its lock.
 */
export function chooseDispatch(
  candidates: readonly Candidate[],
  active: Readonly<Record<string, number>>,
  limits: Limits,
  batch: number,
  projects: ProjectLimits = UNLIMITED_PROJECTS,
): Candidate[] {
  const free = new Map<string, number>();
  const room = (provider: string) => {
    if (!free.has(provider))
      free.set(provider, limitFor(limits, provider) - (active[provider] ?? 0));
    return free.get(provider) as number;
  };
  const projectFree = new Map<string, number>();
  const roomOfProject = (projectId: string) => {
    if (!projectFree.has(projectId)) projectFree.set(projectId, projectRoom(projects, projectId));
    return projectFree.get(projectId) as number;
  };
  const ordered = [...candidates].sort(
    (a, b) => b.priority - a.priority || a.readyAt - b.readyAt || (a.id < b.id ? -1 : 1),
  );
  const chosen: Candidate[] = [];
  for (const c of ordered) {
    if (chosen.length >= batch) break;
    const left = room(c.provider);
    const projectLeft = roomOfProject(c.projectId);
    if (left <= 0 || projectLeft <= 0) continue;
    free.set(c.provider, left - 1);
    projectFree.set(c.projectId, projectLeft - 1);
    chosen.push(c);
  }
  return chosen;
}
