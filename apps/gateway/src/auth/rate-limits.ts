import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Redis } from 'ioredis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { GatewayConfig } from '@drover/config';

export const REDIS = Symbol('REDIS');

/** The gateway's Redis connection: rate limits and event-stream tokens. */
export const redisProvider = {
  provide: REDIS,
  inject: [GatewayConfig],
  useFactory: (config: GatewayConfig) =>
    // No offline queue: while Redis is away a limit check fails fast to the fallback.
    new Redis(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1 }),
};

/**
 * Requests per key per window, counted in Redis so that every gateway replica
 * shares one budget. While Redis is unreachable each replica counts on its own in
 * memory (the limit then holds per replica) rather than refusing everyone.
 */
@Injectable()
export class RateLimits implements OnApplicationShutdown {
  private readonly logger = new Logger(RateLimits.name);
  private readonly limiter: RateLimiterRedis | null;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    config: GatewayConfig,
  ) {
    const points = config.GATEWAY_RATE_LIMIT;
    const duration = config.GATEWAY_RATE_WINDOW_MS / 1000;
    const keyPrefix = `${config.DROVER_REDIS_PREFIX}:rate`;
    this.limiter = points
      ? new RateLimiterRedis({
          storeClient: redis,
          keyPrefix,
          points,
          duration,
          insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration }),
        })
      : null;
    redis.on('error', (error: Error) => this.logger.warn(`redis: ${error.message}`));
  }

  /** Counts one request of `subject`; the seconds to wait when it is over its limit. */
  async take(subject: string): Promise<{ ok: true } | { ok: false; retryAfterSeconds: number }> {
    if (!this.limiter) return { ok: true };
    try {
      await this.limiter.consume(subject);
      return { ok: true };
    } catch (rejection) {
      if (rejection instanceof RateLimiterRes) {
        return {
          ok: false,
          retryAfterSeconds: Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)),
        };
      }
      throw rejection;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
