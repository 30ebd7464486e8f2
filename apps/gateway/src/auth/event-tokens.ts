import { randomBytes } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { GatewayConfig } from '@drover/config';
import { REDIS } from './rate-limits';

const TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;

/**
 * Short-lived, single-use tickets to open the event stream, for clients that
 * cannot set an `Authorization` header on a WebSocket (browsers). Kept in Redis,
 * so a token from one gateway replica opens a stream on any other.
 */
@Injectable()
export class EventTokens {
  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    private readonly config: GatewayConfig,
  ) {}

  private keyOf(token: string): string {
    return `${this.config.DROVER_REDIS_PREFIX}:event-token:${token}`;
  }

  async issue(keyId: string): Promise<{ token: string; expiresAt: Date }> {
    const token = randomBytes(32).toString('base64url');
    const ttl = this.config.GATEWAY_EVENT_TOKEN_TTL_MS;
    await this.redis.set(this.keyOf(token), keyId, 'PX', ttl);
    return { token, expiresAt: new Date(Date.now() + ttl) };
  }

  /** The key a token was issued to, once: the token is spent by reading it. */
  async redeem(token: string): Promise<string | null> {
    if (!TOKEN_FORMAT.test(token)) return null;
    return this.redis.getdel(this.keyOf(token));
  }
}
