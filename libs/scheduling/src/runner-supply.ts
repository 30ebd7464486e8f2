import { Prisma } from '@drover/db';

// What the runner registry says about who could take a task: SQL over a task `t`
// joined with its project `p`, shared by the dispatcher and the waiting check so
// that both judge a task the same way.

/** The pool a task's work goes to: its project's id when the project owns its runners, else null (shared). */
const poolOfTask = Prisma.sql`(CASE WHEN p.own_runners THEN p.id END)`;

/** Some runner is ONLINE. */
const anyOnline = Prisma.sql`EXISTS (SELECT 1 FROM runner o WHERE o.status = 'ONLINE')`;

/** Some runner of the task's pool is ONLINE. */
const poolOnline = Prisma.sql`EXISTS (SELECT 1 FROM runner o WHERE o.status = 'ONLINE'
  AND o.project_id IS NOT DISTINCT FROM ${poolOfTask})`;

/**
 * Some ONLINE runner of the task's pool has the task's image, or says nothing of
 * its images (it runs any: a process-driver runner, or one from before runners
 * listed them).
 */
const poolHasImage = Prisma.sql`EXISTS (SELECT 1 FROM runner o WHERE o.status = 'ONLINE'
  AND o.project_id IS NOT DISTINCT FROM ${poolOfTask}
  AND (o.images IS NULL OR o.images @> jsonb_build_array(t.spec->>'image')))`;

/**
 * A task that names an image which every ONLINE runner of its pool lists as not
 * on its engine: dispatched, it would end INVALID_SPEC on whichever took it, so
 * it stays READY until a runner with the image is online. (A pool with no runner
 * holds nothing back: the work waits there, DISPATCHED, as it always has.)
 */
export const heldForImage = Prisma.sql`(t.spec->>'image' IS NOT NULL AND ${poolOnline} AND NOT ${poolHasImage})`;

/** Why no runner can take the task, as a `"WaitingReason"`; null when one can. */
export const waitingReasonOf = Prisma.sql`(CASE
  WHEN NOT ${anyOnline} THEN 'NO_RUNNER_ONLINE'
  WHEN NOT ${poolOnline} THEN 'NO_RUNNER_IN_POOL'
  WHEN ${heldForImage} THEN 'NO_RUNNER_WITH_IMAGE'
  END)::"WaitingReason"`;
