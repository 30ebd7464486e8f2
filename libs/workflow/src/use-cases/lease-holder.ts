import { Prisma } from '@drover/db';

/**
 * The run a runner's late report (log lines, an artifact) may still add to: the
 * run must carry the report's lease token, and its runner must not have been
 * presumed lost. Output that follows a cancel or a timeout is kept: it is that
 * attempt's last. A query selecting `id, task_id, ticket_id`, for a CTE.
 */
export function leaseHolderRun(fenced: { runId: string; leaseToken: string }): Prisma.Sql {
  return Prisma.sql`
    SELECT id, task_id, ticket_id FROM run
    WHERE id = ${fenced.runId}::uuid AND lease_token = ${fenced.leaseToken}::uuid
      AND error_class IS DISTINCT FROM 'RUNNER_LOST'`;
}
