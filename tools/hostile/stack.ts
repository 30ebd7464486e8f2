// A private Drover stack for the suite, as tools/bench-flow.mjs starts one: its own
// database, subject and Redis prefixes, artifact and work directories; all removed at the end.
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Redis from 'ioredis';
import { connect } from 'nats';
import pg from 'pg';

export const ROOT = join(__dirname, '../..');
const APPS = ['gateway', 'orchestrator', 'scheduler', 'agent-runner', 'health-monitor'];
const POSTGRES = 'postgresql://postgres@127.0.0.1:5432';
/** The one browser origin, besides the gateway's own, allowed to open the event stream. */
export const ALLOWED_ORIGIN = 'https://console.hostile.example';

interface App {
  app: string;
  child: ChildProcess;
}

/** What `npm run bootstrap -- --json` prints: an admin key of the project. */
interface Bootstrapped {
  project: { id: string; slug: string };
  key: { id: string; key: string };
}

/** The parts of tools/lib/stack.mjs and infra.mjs used here. */
interface StackLib {
  buildApps(root: string, apps: string[]): void;
  migrate(root: string, env: NodeJS.ProcessEnv, stdio?: StdioOptions): void;
  bootstrapKey(root: string, env: NodeJS.ProcessEnv, project?: string): Bootstrapped;
  freePort(preferred: number): Promise<number>;
  startApps(root: string, env: NodeJS.ProcessEnv, logDir: string): App[];
  stopApps(procs: App[], timeoutMs?: number): Promise<void>;
  waitForGateway(url: string, procs: App[], apiKey: string, timeoutMs?: number): Promise<void>;
}

/**
 * Requests per key per window: far more than the suite sends (thousands in a minute),
 * so no answer is a 429, while every request still goes through the limiter.
 */
const RATE_LIMIT = 1_000_000;
interface InfraLib {
  ensureInfra(log: (line: string) => void): Promise<void>;
}

async function load<T>(file: string): Promise<T> {
  return (await import(pathToFileURL(join(ROOT, 'tools/lib', file)).href)) as T;
}

export class Stack {
  readonly id = randomBytes(4).toString('hex');
  readonly database = `drover_hostile_${this.id}`;
  readonly prefix = `hostile${this.id}`;
  readonly redisPrefix = `drover-hostile-${this.id}`;
  readonly logDir = join(ROOT, 'tmp/hostile-logs');
  url = '';
  /**
   * The suite's own key: an admin of the `default` project, which is the operator
   * project (GATEWAY_OPERATOR_PROJECT's default). Issued before the services start.
   */
  operator: Bootstrapped = { project: { id: '', slug: '' }, key: { id: '', key: '' } };
  private dir = '';
  private procs: App[] = [];
  private lib?: StackLib;
  private stopped = false;

  constructor(private readonly log: (line: string) => void) {}

  /** Migrates, builds, starts the five services and waits for the gateway and a runner. */
  async start(): Promise<void> {
    const lib = (this.lib = await load<StackLib>('stack.mjs'));
    await (await load<InfraLib>('infra.mjs')).ensureInfra(this.log);
    this.dir = await mkdtemp(join(tmpdir(), `drover-hostile-${this.id}-`));
    const port = await lib.freePort(0);
    this.url = `http://127.0.0.1:${port}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      DATABASE_URL: `${POSTGRES}/${this.database}`,
      DROVER_SUBJECT_PREFIX: this.prefix,
      DROVER_REDIS_PREFIX: this.redisPrefix,
      GATEWAY_PORT: String(port),
      LOG_LEVEL: 'warn',
      LOG_FORMAT: 'json',
      RUNNER_SANDBOX: 'process',
      RUNNER_WORKDIR: join(this.dir, 'runs'),
      RUNNER_ALLOW_LOCAL_REPOS: 'true',
      RUNNER_SHUTDOWN_GRACE_MS: '2000',
      DROVER_ARTIFACTS: pathToFileURL(join(this.dir, 'artifacts')).href,
      GATEWAY_RATE_LIMIT: String(RATE_LIMIT),
      GATEWAY_OPERATOR_PROJECT: 'default',
      GATEWAY_ALLOWED_ORIGINS: ALLOWED_ORIGIN,
    };
    this.log(`database ${this.database}, subject prefix ${this.prefix}, files in ${this.dir}`);
    lib.migrate(ROOT, env, ['ignore', 2, 2]);
    this.operator = lib.bootstrapKey(ROOT, env, 'default');
    this.log(`suite key ${this.operator.key.id}: admin of the operator project "default"`);
    this.log('building the services...');
    // The dashboard too: the gateway serves it at /ui, which the auth corpus reads.
    lib.buildApps(ROOT, [...APPS, 'dashboard']);
    this.procs = lib.startApps(ROOT, env, this.logDir);
    await lib.waitForGateway(this.url, this.procs, this.operator.key.key);
    this.log(`gateway up at ${this.url} (logs in ${this.logDir})`);
  }

  /** A directory of the suite's own, removed at the end. */
  get workDir(): string {
    return this.dir;
  }

  /** Stops the runner: from here on nothing submitted ever executes on this machine. */
  async stopRunner(): Promise<void> {
    const runner = this.procs.filter((p) => p.app === 'agent-runner');
    await this.lib?.stopApps(runner, 10_000);
  }

  /** Services that exited although nobody stopped them. */
  crashed(): string[] {
    return this.procs
      .filter(
        (p) =>
          p.app !== 'agent-runner' && (p.child.exitCode !== null || p.child.signalCode !== null),
      )
      .map((p) => `${p.app} (exit ${p.child.exitCode ?? p.child.signalCode})`);
  }

  /** Stops the services, then removes the database, streams, Redis keys and files. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const steps: [string, () => Promise<unknown>][] = [
      ['stop the services', () => this.lib?.stopApps(this.procs) ?? Promise.resolve()],
      ['delete the NATS streams', () => this.dropStreams()],
      ['drop the database', () => this.dropDatabase()],
      ['delete the Redis keys', () => this.dropRedisKeys()],
      [
        'remove the files',
        () => (this.dir ? rm(this.dir, { recursive: true, force: true }) : Promise.resolve()),
      ],
    ];
    for (const [what, step] of steps) {
      await step().catch((error: Error) =>
        this.log(`cleanup: could not ${what}: ${error.message}`),
      );
    }
  }

  private async dropStreams(): Promise<void> {
    const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
    try {
      const jsm = await nc.jetstreamManager();
      for await (const stream of jsm.streams.list()) {
        if (stream.config.name.startsWith(`${this.prefix.toUpperCase()}_`))
          await jsm.streams.delete(stream.config.name);
      }
    } finally {
      await nc.close();
    }
  }

  private async dropDatabase(): Promise<void> {
    const admin = new pg.Client({ connectionString: `${POSTGRES}/postgres` });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`);
    } finally {
      await admin.end();
    }
  }

  private async dropRedisKeys(): Promise<void> {
    const redis = new Redis('redis://127.0.0.1:6379', {
      lazyConnect: true,
      maxRetriesPerRequest: 1,
    });
    await redis.connect();
    try {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(
          cursor,
          'MATCH',
          `${this.redisPrefix}:*`,
          'COUNT',
          1000,
        );
        if (keys.length) await redis.del(...keys);
        cursor = next;
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
  }
}
