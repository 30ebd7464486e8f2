import { Injectable } from '@nestjs/common';
import { PrismaService } from '@drover/db';
import { gaugeFromQuery, ServiceMetrics } from '@drover/service-kit';

interface RunnerRow {
  id: string;
  slots: number;
  free_slots: number;
  heartbeat_age: number;
}

/**
 * Runner slots (total, free) and heartbeat age, from the registry on scrape.
 * OFFLINE runners (deregistered) are left out: they hold no slots, and keeping
 * them would grow the series without end.
 */
@Injectable()
export class RunnerMetrics {
  constructor(metrics: ServiceMetrics, prisma: PrismaService) {
    const runners = () => prisma.$queryRaw<RunnerRow[]>`
      SELECT id, slots, free_slots,
             extract(epoch FROM clock_timestamp() - last_heartbeat_at)::float8 AS heartbeat_age
      FROM runner WHERE status <> 'OFFLINE'`;
    gaugeFromQuery(
      metrics,
      {
        name: 'drover_runner_slots',
        help: 'Run slots of each runner not OFFLINE: state="total" or "free"',
        labelNames: ['runner', 'state'],
        ttlMs: 1_000,
      },
      async () =>
        (await runners()).flatMap((r) => [
          { labels: { runner: r.id, state: 'total' }, value: r.slots },
          { labels: { runner: r.id, state: 'free' }, value: r.free_slots },
        ]),
    );
    gaugeFromQuery(
      metrics,
      {
        name: 'drover_runner_heartbeat_age_seconds',
        help: 'Seconds since each runner not OFFLINE last sent a heartbeat',
        labelNames: ['runner'],
        ttlMs: 1_000,
      },
      async () =>
        (await runners()).map((r) => ({
          labels: { runner: r.id },
          value: Math.max(0, r.heartbeat_age),
        })),
    );
  }
}
