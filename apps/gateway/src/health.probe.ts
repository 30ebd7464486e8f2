import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { GatewayConfig } from '@drover/config';
import { PrismaService } from '@drover/db';
import { NatsBus } from '@drover/messaging';

export interface Check {
  status: 'up' | 'down';
  latencyMs: number;
  error?: string;
}

/**
 * The runners ONLINE, in all and per pool: `shared`, and `project:<slug>` for
 * each project's own pool that has one.
 */
export interface RunnersOnline {
  online: number;
  pools: Record<string, number>;
}

const TIMEOUT_MS = 2000;

function timed(probe: () => Promise<unknown>): Promise<Check> {
  const started = performance.now();
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS).unref(),
  );
  return Promise.race([probe(), timeout]).then(
    () => ({ status: 'up' as const, latencyMs: Math.round(performance.now() - started) }),
    (error: Error) => ({
      status: 'down' as const,
      latencyMs: Math.round(performance.now() - started),
      error: error.message,
    }),
  );
}

@Injectable()
export class HealthProbe implements OnModuleDestroy {
  private readonly redis: Redis;

  constructor(
    private readonly prisma: PrismaService,
    private readonly bus: NatsBus,
    config: GatewayConfig,
  ) {
    this.redis = new Redis(config.REDIS_URL, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 1000,
    });
    this.redis.on('error', () => undefined);
    this.redis.connect().catch(() => undefined);
  }

  async check(): Promise<Record<'postgres' | 'nats' | 'redis', Check>> {
    const [postgres, nats, redis] = await Promise.all([
      timed(() => this.prisma.$queryRaw`SELECT 1`),
      timed(() => this.bus.connection.rtt()),
      timed(() => this.redis.ping()),
    ]);
    return { postgres, nats, redis };
  }

  /** The runners ONLINE per pool, as the registry says; null when Postgres does not answer. */
  async runners(): Promise<RunnersOnline | null> {
    const rows = await this.prisma.$queryRaw<{ slug: string | null; n: number }[]>`
      SELECT p.slug, count(*)::int AS n FROM runner r LEFT JOIN project p ON p.id = r.project_id
      WHERE r.status = 'ONLINE' GROUP BY p.slug ORDER BY p.slug NULLS FIRST`.catch(() => null);
    if (!rows) return null;
    const pools: Record<string, number> = { shared: 0 };
    for (const { slug, n } of rows) pools[slug === null ? 'shared' : `project:${slug}`] = n;
    return { online: rows.reduce((sum, r) => sum + r.n, 0), pools };
  }

  onModuleDestroy(): void {
    this.redis.disconnect();
  }
}
