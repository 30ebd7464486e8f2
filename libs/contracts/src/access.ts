import { z } from 'zod';
import { KeyRole } from './key-roles';
import { Resources, Text } from './task-spec';
import { ProjectSlug } from './tickets';

const Quota = z.number().int().min(0).max(1_000_000);

/** The body of `POST /projects/:id/keys`. */
export const CreateKey = z
  .object({
    name: Text(1, 100),
    role: KeyRole,
    /** When the key stops working; never when absent. Must be in the future. */
    expires_at: z.iso
      .datetime({ offset: true, message: 'must be an ISO 8601 date-time' })
      .refine((at) => Date.parse(at) > Date.now(), 'must be in the future')
      .optional(),
  })
  .strict();
export type CreateKey = z.infer<typeof CreateKey>;

/** The body of `POST /projects`: the project and, in the answer, its first admin key. */
export const CreateProject = z
  .object({
    slug: ProjectSlug,
    name: Text(1, 200),
    /** Tasks DISPATCHED or RUNNING at once; the scheduler's default when absent. */
    max_running_tasks: Quota.optional(),
    /** Tasks submitted per rolling hour; the orchestrator's default when absent. */
    max_tasks_per_hour: Quota.optional(),
    /**
     * The most its tasks' `resources` may ask for (any of memory_mb, cpus, pids,
     * tmpfs_mb, disk_mb); under the orchestrator's ceilings, which still apply.
     */
    max_resources: Resources.optional(),
    /** Its tasks run only on runners registered with it, never on shared ones (default false). */
    own_runners: z.boolean().optional(),
  })
  .strict();
export type CreateProject = z.infer<typeof CreateProject>;
