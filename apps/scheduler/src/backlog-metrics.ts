import { Injectable } from '@nestjs/common';
import { PrismaService } from '@drover/db';
import { gaugeFromQuery, ServiceMetrics } from '@drover/service-kit';

/**
 * `drover_ready_tasks{provider,pool}`: the backlog, READY tasks waiting for a
 * runner, read on scrape. `pool` is the project id of a project with its own
 * runners, else `shared` (as the scheduler routes them).
 */
@Injectable()
export class BacklogMetrics {
  constructor(metrics: ServiceMetrics, prisma: PrismaService) {
    gaugeFromQuery(
      metrics,
      {
        name: 'drover_ready_tasks',
        help: 'READY tasks waiting to be dispatched, by provider and runner pool',
        labelNames: ['provider', 'pool'],
      },
      async () => {
        const rows = await prisma.$queryRaw<{ provider: string; pool: string; n: number }[]>`
          SELECT t.provider, CASE WHEN p.own_runners THEN p.id::text ELSE 'shared' END AS pool,
                 count(*)::int AS n
          FROM task t JOIN project p ON p.id = t.project_id
          WHERE t.status = 'READY'
          GROUP BY 1, 2`;
        return rows.map((row) => ({
          labels: { provider: row.provider, pool: row.pool },
          value: row.n,
        }));
      },
    );
  }
}
