import { Injectable } from '@nestjs/common';
import { PrismaService } from '@drover/db';
import { gaugeFromQuery, ServiceMetrics } from '@drover/service-kit';

/** `drover_tasks{status}`: tasks by status, counted in Postgres on scrape. */
@Injectable()
export class TaskMetrics {
  constructor(metrics: ServiceMetrics, prisma: PrismaService) {
    gaugeFromQuery(
      metrics,
      { name: 'drover_tasks', help: 'Tasks by status', labelNames: ['status'] },
      async () => {
        const rows = await prisma.$queryRaw<{ status: string; n: number }[]>`
          SELECT status::text AS status, count(*)::int AS n FROM task GROUP BY status`;
        return rows.map((row) => ({ labels: { status: row.status }, value: row.n }));
      },
    );
  }
}
