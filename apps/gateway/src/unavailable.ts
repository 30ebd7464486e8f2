import { databaseUnavailable } from '@drover/db';

/** What a client is told to wait before trying again while a dependency is down. */
export const RETRY_AFTER_SECONDS = 5;

/**
 * The 503 for an error that says a dependency is down rather than that the
 * request or the gateway is wrong: Postgres (every route reads it, auth first)
 * or Redis (event-stream tokens are kept there). `reason` is for the log only:
 * it may name hosts and ports a client has no business knowing.
 */
export function unavailable(error: unknown): Unavailable | undefined {
  const database = databaseUnavailable(error);
  if (database) return down('DATABASE_UNAVAILABLE', 'the database', database);
  const redis = redisUnavailable(error);
  if (redis) return down('REDIS_UNAVAILABLE', 'Redis', redis);
  return undefined;
}

export interface Unavailable {
  code: string;
  message: string;
  reason: string;
}

function down(code: string, what: string, reason: string): Unavailable {
  return { code, message: `${what} is unavailable; try again in ${RETRY_AFTER_SECONDS} s`, reason };
}

// ioredis without an offline queue: refused at once while the connection is down.
const REDIS_MESSAGES =
  /Stream isn't writeable|Connection is closed|Reached the max retries per request limit/;

function redisUnavailable(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  return error.name === 'MaxRetriesPerRequestError' || REDIS_MESSAGES.test(error.message)
    ? error.message
    : undefined;
}
