import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { connect } from 'nats';
import { Client } from 'pg';
import { createPrismaClient, type PrismaClient } from '@drover/db';

/** One test file's private slice of the shared infrastructure. */
export interface TestEnv {
  databaseUrl: string;
  natsUrl: string;
  redisUrl: string;
  subjectPrefix: string;
  redisPrefix: string;
  /** Environment for Drover's config loaders, pointing at this slice. */
  env: Record<string, string>;
  prisma: PrismaClient;
  destroy(): Promise<void>;
}

/**
 * The DROVER_SECRETS_KEY of every test env (base64 of 32 fixed bytes), so that
 * stacks started from it take secret task env values. Tests only.
 */
export const TEST_SECRETS_KEY = Buffer.alloc(32, 'drover-test-secrets-key').toString('base64');

function required(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(`${name} is not set: run the tests through Jest (its global setup sets it)`);
  return value;
}

async function admin<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: required('DROVER_TEST_DATABASE_URL') });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates a database cloned from the migrated template, plus a NATS subject
 * prefix and a Redis key prefix of its own, so test files run in parallel
 * without seeing each other.
 */
export async function createTestEnv(): Promise<TestEnv> {
  const id = randomBytes(5).toString('hex');
  const dbName = `drover_t_${id}`;
  const template = required('DROVER_TEST_TEMPLATE_DB');
  await admin((c) => c.query(`CREATE DATABASE "${dbName}" TEMPLATE "${template}"`));
  const url = new URL(required('DROVER_TEST_DATABASE_URL'));
  url.pathname = `/${dbName}`;
  const databaseUrl = url.toString();
  const natsUrl = required('DROVER_TEST_NATS_URL');
  const redisUrl = required('DROVER_TEST_REDIS_URL');
  const subjectPrefix = `t${id}`;
  const redisPrefix = `drover-t${id}`;
  const prisma = createPrismaClient(databaseUrl, 5);
  return {
    databaseUrl,
    natsUrl,
    redisUrl,
    subjectPrefix,
    redisPrefix,
    env: {
      DATABASE_URL: databaseUrl,
      NATS_URL: natsUrl,
      REDIS_URL: redisUrl,
      DROVER_SUBJECT_PREFIX: subjectPrefix,
      DROVER_REDIS_PREFIX: redisPrefix,
      DROVER_SECRETS_KEY: TEST_SECRETS_KEY,
      // Tests start many services in parallel: none serves metrics on a fixed port.
      ORCHESTRATOR_METRICS_PORT: '0',
      SCHEDULER_METRICS_PORT: '0',
      RUNNER_METRICS_PORT: '0',
      HEALTH_METRICS_PORT: '0',
    },
    prisma,
    async destroy() {
      await prisma.$disconnect();
      await admin((c) => c.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`));
      await deleteStreams(natsUrl, `${subjectPrefix.toUpperCase()}_`);
      await deleteRedisKeys(redisUrl, redisPrefix);
    },
  };
}

/** Removes the JetStream streams a test env created (their names carry its prefix). */
async function deleteStreams(natsUrl: string, namePrefix: string): Promise<void> {
  const nc = await connect({ servers: natsUrl });
  try {
    const jsm = await nc.jetstreamManager();
    const names: string[] = [];
    for await (const info of jsm.streams.list()) {
      if (info.config.name.startsWith(namePrefix)) names.push(info.config.name);
    }
    await Promise.all(names.map((name) => jsm.streams.delete(name)));
  } finally {
    await nc.close();
  }
}

/** Removes the Redis keys a test env's queues created (they carry its prefix). */
async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Polls `probe` until it returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
