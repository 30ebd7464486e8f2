import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { answers, DEFAULT_URLS, type InfraUrls } from './infra-urls';

const ROOT = join(__dirname, '../../..');
export const MIGRATIONS_DIR = join(ROOT, 'prisma/migrations');

/** Name of the template database for the current migrations (changes when they do). */
export function templateName(): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(MIGRATIONS_DIR).sort()) {
    if (name.endsWith('.toml')) continue;
    hash.update(name).update(readFileSync(join(MIGRATIONS_DIR, name, 'migration.sql')));
  }
  return `drover_template_${hash.digest('hex').slice(0, 12)}`;
}

type Service = 'postgres' | 'nats' | 'redis';
const SERVICES: { service: Service; key: keyof InfraUrls; env: string; port: number }[] = [
  { service: 'postgres', key: 'databaseUrl', env: 'DROVER_TEST_DATABASE_URL', port: 5432 },
  { service: 'nats', key: 'natsUrl', env: 'DROVER_TEST_NATS_URL', port: 4222 },
  { service: 'redis', key: 'redisUrl', env: 'DROVER_TEST_REDIS_URL', port: 6379 },
];

/**
 * Finds Postgres, NATS and Redis for the tests: a URL from the environment, else
 * the default on localhost if it answers, else a container started by
 * testcontainers when a Docker engine is reachable. Then builds the template
 * database every integration test file clones.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.DROVER_TEST_READY === '1') return;
  for (const { service, key, env, port } of SERVICES) {
    let url = process.env[env];
    if (!url) {
      url = (await answers(DEFAULT_URLS[key], port))
        ? DEFAULT_URLS[key]
        : await startContainer(service);
      process.env[env] = url;
    }
  }
  const admin = process.env.DROVER_TEST_DATABASE_URL as string;
  const template = new URL(admin);
  template.pathname = `/${templateName()}`;
  migrate(template.toString());
  process.env.DROVER_TEST_TEMPLATE_DB = templateName();
  if (process.env.DROVER_TEST_DOCKER_HOST === undefined) {
    const [host = '', image = ''] = containerEngine().split('\n');
    process.env.DROVER_TEST_DOCKER_HOST = host;
    process.env.DROVER_TEST_SANDBOX_IMAGE = image;
  }
  if (process.env.DROVER_TEST_AGENT_IMAGE === undefined) {
    process.env.DROVER_TEST_AGENT_IMAGE = agentImage(process.env.DROVER_TEST_DOCKER_HOST);
  }
  process.env.DROVER_TEST_READY = '1';
}

/**
 * The DOCKER_HOST of a container engine for the sandbox tests and, on the next
 * line, the test image, built (tools/lib/engine.mjs starts Podman's API, or
 * installs Podman where it can); the host is empty when there is none to be
 * had, and those tests then fail saying so.
 */
function containerEngine(): string {
  return execFileSync(process.execPath, [join(ROOT, 'tools/lib/engine.mjs')], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/**
 * The agent image of the current recipe (tools/agent-image), built on the test
 * engine where it is missing (`npm run sandbox:build`, a few minutes the first
 * time, progress on stderr); empty when there is no engine or the build failed,
 * and the tests that need it then fail saying so.
 */
function agentImage(dockerHost: string): string {
  if (!dockerHost) return '';
  try {
    return execFileSync(process.execPath, [join(ROOT, 'tools/lib/agent-image.mjs')], {
      cwd: ROOT,
      env: { ...process.env, DOCKER_HOST: dockerHost },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
  } catch {
    // The build has said why on stderr; only the tests of the agent image need it.
    return '';
  }
}

/**
 * Runs the project's migration tool on `databaseUrl` (creating it if needed).
 * A child process, because Jest's module mapping does not apply to global setup.
 */
function migrate(databaseUrl: string): void {
  execFileSync(
    process.execPath,
    [
      join(ROOT, 'node_modules/tsx/dist/cli.mjs'),
      '--tsconfig',
      'tsconfig.json',
      'tools/db-migrate.ts',
    ],
    {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: databaseUrl },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
}

async function startContainer(service: Service): Promise<string> {
  const { GenericContainer, getContainerRuntimeClient, Wait } = await import('testcontainers');
  try {
    await getContainerRuntimeClient();
  } catch {
    throw new Error(
      `${service} does not answer on localhost, no DROVER_TEST_* URL is set, and no Docker engine is reachable for testcontainers`,
    );
  }
  switch (service) {
    case 'postgres': {
      const c = await new GenericContainer('postgres:16-alpine')
        .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: 'trust' })
        .withExposedPorts(5432)
        .withWaitStrategy(Wait.forLogMessage(/ready to accept connections/, 2))
        .start();
      return `postgresql://postgres@${c.getHost()}:${c.getMappedPort(5432)}/postgres`;
    }
    case 'nats': {
      const c = await new GenericContainer('nats:2.10-alpine')
        .withCommand(['-js'])
        .withExposedPorts(4222)
        .start();
      return `nats://${c.getHost()}:${c.getMappedPort(4222)}`;
    }
    case 'redis': {
      const c = await new GenericContainer('redis:7-alpine').withExposedPorts(6379).start();
      return `redis://${c.getHost()}:${c.getMappedPort(6379)}`;
    }
  }
}
