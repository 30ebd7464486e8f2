import type { CreateTicketReply, ResourceCeilings } from '@drover/contracts';
import type { Tx } from '@drover/db';

/** What the orchestrator lets a submission hold. */
export interface SubmissionQuota {
  /** Tasks a project may submit per rolling hour; 0: no limit. A project's `max_tasks_per_hour` replaces it. */
  maxTasksPerHour: number;
  /** The most a task's `resources` may ask for (DROVER_MAX_TASK_*); a missing or 0 one: no ceiling. */
  maxResources?: ResourceCeilings;
}

export const NO_SUBMISSION_QUOTA: SubmissionQuota = { maxTasksPerHour: 0 };

export type QuotaRefusal = Extract<CreateTicketReply, { ok: false }>;

/** The project a submission counts against, and its hourly limit (null: none). */
export interface ProjectQuota {
  id: string;
  slug: string;
  limit: number | null;
}

// First key of the two-key advisory lock taken per project while its quota is checked.
const QUOTA_LOCK = 72_707_372;

/**
 * A project's tasks-per-hour limit: the project row's own, else the configured
 * default; 0 in either place means no limit (null).
 */
export function hourlyLimit(own: number | null, configured: number): number | null {
  const limit = own ?? configured;
  return limit > 0 ? limit : null;
}

/**
 * The refusal of a ticket with more tasks than its project may submit in a whole
 * hour: waiting would never help, so it is a 422 without a retry time.
 */
export function tooLargeForQuota(project: ProjectQuota, adding: number): QuotaRefusal | undefined {
  if (project.limit === null || adding <= project.limit) return undefined;
  return {
    ok: false,
    status: 422,
    error: {
      code: 'QUOTA_EXCEEDED',
      message: `project "${project.slug}" may submit at most ${project.limit} tasks per hour and this ticket adds ${adding}: it can never fit; split it into tickets of at most ${project.limit} tasks`,
      details: [{ path: 'tasks', message: `more than the ${project.limit} allowed per hour` }],
    },
  };
}

/**
 * Within the transaction that would write `adding` tasks: takes a lock held
 * until it ends, so concurrent submissions to one project are counted one after
 * another, then counts the project's tasks of the last hour. Returns a 429 when
 * the new ones would pass the limit, with the seconds until enough of the hour's
 * tasks age out; undefined when they fit (or there is no limit).
 */
export async function checkHourlyQuota(
  tx: Tx,
  project: ProjectQuota,
  adding: number,
): Promise<QuotaRefusal | undefined> {
  const { limit } = project;
  if (limit === null) return undefined;
  await tx.$executeRaw`SELECT pg_advisory_xact_lock(${QUOTA_LOCK}::int, hashtext(${project.id}))`;
  // clock_timestamp(), not now(): the lock may have been waited for.
  const [{ n: submitted }] = await tx.$queryRaw<{ n: number }[]>`
    SELECT count(*)::int AS n FROM task
    WHERE project_id = ${project.id}::uuid AND created_at > clock_timestamp() - interval '1 hour'`;
  const excess = submitted + adding - limit;
  if (excess <= 0) return undefined;
  // The `excess`-th oldest task of the hour leaving the window makes room for all the new ones.
  const oldest = await tx.$queryRaw<{ wait: number }[]>`
    SELECT ceil(extract(epoch FROM created_at + interval '1 hour' - clock_timestamp()))::int AS wait
    FROM task
    WHERE project_id = ${project.id}::uuid AND created_at > clock_timestamp() - interval '1 hour'
    ORDER BY created_at OFFSET ${excess - 1} LIMIT 1`;
  // No such task: the hour's tasks aged out meanwhile, so asking again at once may pass.
  const retryAfterSeconds = Math.max(1, oldest.length ? oldest[0].wait : 1);
  return {
    ok: false,
    status: 429,
    error: {
      code: 'QUOTA_EXCEEDED',
      message: `project "${project.slug}" may submit ${limit} tasks per hour: ${submitted} were submitted in the last hour and this ticket adds ${adding}; retry in ${retryAfterSeconds} s`,
      retryAfterSeconds,
    },
  };
}
