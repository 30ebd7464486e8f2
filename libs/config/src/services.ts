import { hostname } from 'node:os';
import { z } from 'zod';
import { argValue, ConfigError, loadConfig, type Env } from './config';
import { boolVar, CommonConfigSchema, intVar, secretsKeyVar } from './fields';

/**
 * The repository of the agent image (tools/agent-image) that `npm run
 * sandbox:build` tags `<recipe hash>` and `latest` (tools/lib/agent-image.mjs
 * spells it too; tests/deploy/agent-image.spec.ts checks that they agree).
 */
export const AGENT_IMAGE_REPO = 'localhost/drover-agent';

/**
 * A class whose instances have the parsed shape of `schema`: usable both as a
 * type and as a Nest injection token, with the value provided by `useValue`.
 */
function configClass<S extends z.ZodObject>(_schema: S) {
  return class {} as unknown as abstract new () => z.output<S>;
}

/**
 * A provider's base URL: http or https, a host, no credentials, query or
 * fragment (it is written to logs), no characters a shell or JSON would need
 * escaped (it reaches the CLIs through their scripts' environment).
 */
const baseUrlVar = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value))
  .superRefine((value, ctx) => {
    const problem = value === undefined ? undefined : baseUrlProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

function baseUrlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `"${value}" is not a URL (e.g. https://llm-gateway.example.com)`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an http(s) URL';
  if (url.username || url.password)
    return 'must not hold credentials (use the *_API_KEY variables)';
  if (url.search || url.hash) return 'must not have a query or fragment';
  if (/[\s"'`\\$]/.test(value)) return 'must not contain whitespace, quotes, backslashes or $';
  return undefined;
}

export const GatewayConfigSchema = CommonConfigSchema.extend({
  GATEWAY_HOST: z.string().default('127.0.0.1'),
  GATEWAY_PORT: intVar(8080, 0, 65_535),
  /** How long the gateway waits for the orchestrator to answer a command. */
  GATEWAY_COMMAND_TIMEOUT_MS: intVar(10_000, 100),
  /** Upper bound of `limit` on paginated endpoints. */
  GATEWAY_MAX_PAGE_SIZE: intVar(500, 1, 10_000),
  GATEWAY_BODY_LIMIT: z.string().default('10mb'),
  /** Safety net for the event tail when no NATS notification arrives. */
  GATEWAY_EVENT_POLL_MS: intVar(500, 10),
  /**
   * How long an event stream may stay unable to take more (its client not
   * reading) before it is closed with 1013; until then it is held back and
   * caught up from Postgres once the client reads again.
   */
  GATEWAY_SLOW_CLIENT_MS: intVar(15_000, 100),
  /** Requests one API key may make per `GATEWAY_RATE_WINDOW_MS` (shared by replicas in Redis); 0: no limit. */
  GATEWAY_RATE_LIMIT: intVar(1200, 0),
  GATEWAY_RATE_WINDOW_MS: intVar(60_000, 1000),
  /**
   * Browser origins allowed to open the event stream (comma-separated, e.g.
   * `https://drover.example.com`); a page on the gateway's own host is always allowed.
   */
  GATEWAY_ALLOWED_ORIGINS: z
    .string()
    .default('')
    .transform((list) =>
      list
        .split(',')
        .map((o) => o.trim())
        .filter(Boolean),
    ),
  /** The project whose admin keys may create projects (the bootstrap command's). */
  GATEWAY_OPERATOR_PROJECT: z.string().default('default'),
  /** How long a token from `POST /events/token` may be used to open the event stream. */
  GATEWAY_EVENT_TOKEN_TTL_MS: intVar(60_000, 1000),
  /** How often open event streams re-check their key (closed once it is revoked or expired). */
  GATEWAY_KEY_RECHECK_MS: intVar(5_000, 100),
  /**
   * On SIGTERM, how long requests in flight may take to finish; then the
   * connections still open (slow clients, event streams) are closed.
   */
  GATEWAY_SHUTDOWN_GRACE_MS: intVar(10_000, 0, 600_000),
  /**
   * The built dashboard (`npm run build:dashboard`) served at /ui. Unset: the
   * `dashboard` directory beside the gateway's own bundle (dist/apps/dashboard).
   */
  GATEWAY_UI_DIR: z
    .string()
    .optional()
    .transform((value) => (value === '' ? undefined : value)),
});
/** DI token and type of the gateway's configuration. */
export abstract class GatewayConfig extends configClass(GatewayConfigSchema) {}

/**
 * A run's lease lasts this many of its runner's heartbeat intervals; a runner
 * silent for as long is STALE. The orchestrator (which grants leases) and the
 * health monitor (which renews and expires them) must agree on it.
 */
const LeaseConfig = {
  DROVER_STALE_AFTER_HEARTBEATS: intVar(3, 1, 100),
};

/** Defaults of every task's retry and timeout policy (a task may override each). */
const PolicyDefaults = {
  /** Runs per task at most, the first included. */
  DROVER_RETRY_MAX_ATTEMPTS: intVar(5, 1, 100),
  /** Backoff before the first retry; later ones are multiplied by the factor. */
  DROVER_RETRY_BACKOFF_MS: intVar(1_000, 0, 86_400_000),
  DROVER_RETRY_FACTOR: z.coerce.number().min(1).max(10).default(2),
  DROVER_RETRY_MAX_BACKOFF_MS: intVar(300_000, 0, 86_400_000),
  /** Wall-clock limit of one run. */
  DROVER_TASK_TIMEOUT_MS: intVar(3_600_000, 1_000, 7 * 86_400_000),
};

export const OrchestratorConfigSchema = CommonConfigSchema.extend({
  /** Port of its Prometheus `GET /metrics`; 0: not served. */
  ORCHESTRATOR_METRICS_PORT: intVar(9464, 0, 65_535),
  ...LeaseConfig,
  ...PolicyDefaults,
  /**
   * After a run's deadline, how long the control plane waits for the runner to
   * report the timeout itself before it ends the run and tells the runner to stop.
   */
  ORCHESTRATOR_TIMEOUT_GRACE_MS: intVar(10_000, 0, 3_600_000),
  /** Most runner reports of one kind applied in one transaction. */
  ORCHESTRATOR_REPORT_BATCH: intVar(256, 1, 4096),
  /** Most runner reports taken from JetStream and not yet applied. */
  ORCHESTRATOR_REPORT_CONCURRENCY: intVar(512, 1, 8192),
  /** Seals secret task env values before they are stored; without it they are refused. */
  DROVER_SECRETS_KEY: secretsKeyVar,
  /**
   * Tasks a project may submit in any rolling hour, unless its row sets its own
   * (`project.max_tasks_per_hour`); 0: no limit.
   */
  DROVER_PROJECT_MAX_TASKS_PER_HOUR: intVar(0, 0, 100_000_000),
  /**
   * The most a task's `resources` may ask for, checked at submission (422); 0: no
   * ceiling here. Set them to the runners' RUNNER_MAX_* so that a task no runner
   * would run is refused before it is written.
   */
  DROVER_MAX_TASK_MEMORY_MB: intVar(0, 0, 262_144),
  DROVER_MAX_TASK_CPUS: z.coerce.number().min(0).max(256).default(0),
  DROVER_MAX_TASK_PIDS: intVar(0, 0, 65_536),
  DROVER_MAX_TASK_TMPFS_MB: intVar(0, 0, 65_536),
  DROVER_MAX_TASK_DISK_MB: intVar(0, 0, 1_048_576),
});
export abstract class OrchestratorConfig extends configClass(OrchestratorConfigSchema) {}

/** Per-provider concurrency limits, e.g. `{"claude":8,"default":8}`. */
export const ConcurrencyLimits = z
  .record(z.string().regex(/^[a-z0-9_-]+$/), z.number().int().nonnegative())
  .transform((limits) => ({ default: 8, ...limits }));
export type ConcurrencyLimits = z.output<typeof ConcurrencyLimits>;

const ConcurrencyJson = z
  .string()
  .default('{"default":8}')
  .transform((raw, ctx): unknown => {
    try {
      return JSON.parse(raw);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be JSON such as {"claude":8,"default":8}' });
      return z.NEVER;
    }
  })
  .pipe(ConcurrencyLimits);

export const SchedulerConfigSchema = CommonConfigSchema.extend({
  /** Port of its Prometheus `GET /metrics`; 0: not served. */
  SCHEDULER_METRICS_PORT: intVar(9465, 0, 65_535),
  /** Limits per provider; `--concurrency` on the command line wins. */
  DROVER_CONCURRENCY: ConcurrencyJson,
  /** Most tasks dispatched in one claim transaction. */
  SCHEDULER_BATCH_SIZE: intVar(256, 1, 10_000),
  /** Safety-net poll when no event wakes the scheduler. */
  SCHEDULER_POLL_MS: intVar(500, 10),
  /**
   * Tasks a project may have DISPATCHED or RUNNING at once, unless its row sets
   * its own (`project.max_running_tasks`); 0: no limit.
   */
  DROVER_PROJECT_MAX_RUNNING_TASKS: intVar(0, 0, 1_000_000),
});
export abstract class SchedulerConfig extends configClass(SchedulerConfigSchema) {}

export const RunnerConfigSchema = CommonConfigSchema.extend({
  /** Port of its Prometheus `GET /metrics`; 0: not served (set one per runner on a shared host). */
  RUNNER_METRICS_PORT: intVar(9466, 0, 65_535),
  RUNNER_ID: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/)
    .default(`${hostname().replace(/[^A-Za-z0-9._-]/g, '-')}-${process.pid}`),
  RUNNER_NAME: z.string().optional(),
  /**
   * The project (slug) whose own runner pool this runner serves: it takes only
   * that project's work. Unset: the shared pool. The runner refuses to start when
   * the registry knows no such project.
   */
  RUNNER_PROJECT: z
    .string()
    // The contract's ProjectSlug (config cannot import the contracts).
    .regex(
      /^[a-z0-9][a-z0-9-]{0,62}$/,
      'must be a project slug: 1-63 characters of a-z, 0-9 or "-"',
    )
    .optional(),
  RUNNER_SLOTS: intVar(4, 1, 1024),
  /** Heartbeat interval; each heartbeat renews the leases of the runs held. */
  RUNNER_HEARTBEAT_MS: intVar(30_000, 100),
  /** Parent of the per-run workspace directories. */
  RUNNER_WORKDIR: z.string().optional(),
  /** On SIGTERM, how long running work may continue before it is released. */
  RUNNER_SHUTDOWN_GRACE_MS: intVar(30_000, 0),
  /**
   * Sandbox driver. `auto`: `docker` when a container engine answers, else the
   * runner refuses to start. `process` runs work unisolated on this host
   * (development only) and must be chosen explicitly.
   */
  RUNNER_SANDBOX: z.enum(['auto', 'docker', 'process']).default('auto'),
  /** The container engine: `unix:///path.sock`, a socket path, or `tcp://host:port`. */
  DOCKER_HOST: z.string().optional(),
  /**
   * Default sandbox image (a task's `image` replaces it); must be on the engine.
   * The agent image (tools/agent-image, built by `npm run sandbox:build`).
   */
  RUNNER_IMAGE: z.string().min(1).default(`${AGENT_IMAGE_REPO}:latest`),
  /**
   * `uid:gid` the sandbox runs commands as; empty: the image's own user. Never
   * root by default: an image without a USER would otherwise run as root.
   */
  RUNNER_USER: z
    .string()
    .regex(/^(\d+(:\d+)?)?$/, 'must be uid:gid (numbers), or empty for the image user')
    .default('1000:1000'),
  /** Default sandbox limits (a task's `resources` replace them, up to the ceilings below). */
  RUNNER_MEMORY_MB: intVar(2048, 16, 262_144),
  RUNNER_CPUS: z.coerce.number().min(0.05).max(256).default(2),
  RUNNER_PIDS: intVar(512, 16, 65_536),
  RUNNER_TMPFS_MB: intVar(512, 1, 65_536),
  /** Size of the filesystem each run's workspace is on (`resources.disk_mb`). */
  RUNNER_DISK_MB: intVar(4096, 16, 1_048_576),
  /** The most a task's `resources` may ask for here: above one, the run ends INVALID_SPEC. */
  RUNNER_MAX_MEMORY_MB: intVar(8192, 16, 262_144),
  RUNNER_MAX_CPUS: z.coerce.number().min(0.05).max(256).default(4),
  RUNNER_MAX_PIDS: intVar(4096, 16, 65_536),
  RUNNER_MAX_TMPFS_MB: intVar(4096, 1, 65_536),
  RUNNER_MAX_DISK_MB: intVar(16_384, 16, 1_048_576),
  /**
   * How a run's workspace is bounded: `loop`, a filesystem of `disk_mb` on a loop
   * device (needs root and loop devices; the runner refuses to start without
   * them); `off`, unbounded on the runner's disk. Default: `loop`, or `off` with
   * the process driver, whose commands can write anywhere on the host anyway.
   */
  RUNNER_DISK_QUOTA: z.enum(['loop', 'off']).optional(),
  /**
   * Each model provider's base URL (an LLM gateway, a regional endpoint): passed
   * to the CLIs that use the provider, and what `provider` egress allows in place
   * of api.anthropic.com:443, api.openai.com:443 and
   * generativelanguage.googleapis.com:443. OPENAI_BASE_URL includes the API's
   * path (`https://gateway.example.com/v1`).
   */
  /** Gone: a runner-wide network contradicts each task's policy, so setting it is refused. */
  RUNNER_NETWORK: z
    .string()
    .optional()
    .refine(
      (value) => value === undefined,
      "is no longer read: each task's network policy decides what its sandbox reaches (README, Egress)",
    ),
  ANTHROPIC_BASE_URL: baseUrlVar,
  OPENAI_BASE_URL: baseUrlVar,
  GOOGLE_GEMINI_BASE_URL: baseUrlVar,
  /**
   * A watchdog process removes this runner's containers within about a second
   * should the runner die without removing them, and at most one lease length
   * (RUNNER_HEARTBEAT_MS × DROVER_STALE_AFTER_HEARTBEATS, as the control plane
   * answers) + 1 s after the last answered heartbeat should the runner live on
   * without renewing its leases (frozen, or cut off); a restart reaps them otherwise.
   */
  RUNNER_CONTAINER_WATCHDOG: boolVar(true),
  /** Let tasks use local paths and file:// repositories (development and tests). */
  RUNNER_ALLOW_LOCAL_REPOS: boolVar(false),
  /**
   * Let tasks use repositories on private, loopback and link-local addresses,
   * and name such hosts in their network allowlist.
   */
  RUNNER_ALLOW_PRIVATE_HOSTS: boolVar(false),
  /** Limit of one clone or push. */
  RUNNER_GIT_TIMEOUT_MS: intVar(600_000, 1_000),
  /** Keep workspaces after runs (debugging). */
  RUNNER_KEEP_WORKSPACES: boolVar(false),
  /** Flush buffered log lines at least this often. */
  RUNNER_LOG_FLUSH_MS: intVar(100, 10),
  /** Opens secret task env values (the orchestrator's key); without it such runs fail. */
  DROVER_SECRETS_KEY: secretsKeyVar,
}).superRefine((config, ctx) => {
  // A default above its ceiling would make every task that asks for nothing refused.
  for (const name of ['MEMORY_MB', 'CPUS', 'PIDS', 'TMPFS_MB', 'DISK_MB'] as const) {
    const value = config[`RUNNER_${name}`];
    const ceiling = config[`RUNNER_MAX_${name}`];
    if (value > ceiling) {
      ctx.addIssue({
        code: 'custom',
        path: [`RUNNER_${name}`],
        message: `${value} is above RUNNER_MAX_${name} (${ceiling}): raise the ceiling or lower the default`,
      });
    }
  }
});
export abstract class RunnerConfig extends configClass(RunnerConfigSchema) {}

/**
 * The provider API keys in this process's environment (`*_API_KEY`): the runner
 * hands each CLI agent only its own provider's.
 */
export function providerKeysInEnv(env: Env = process.env): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] =>
        /^[A-Z][A-Z0-9_]*_API_KEY$/.test(entry[0]) && typeof entry[1] === 'string',
    ),
  );
}

/**
 * The endpoints a runner's CLI agents are to use, from ANTHROPIC_BASE_URL,
 * OPENAI_BASE_URL and GOOGLE_GEMINI_BASE_URL; unset ones are left out.
 */
export function providerEndpointsOf(
  config: Pick<RunnerConfig, 'ANTHROPIC_BASE_URL' | 'OPENAI_BASE_URL' | 'GOOGLE_GEMINI_BASE_URL'>,
): { anthropic?: string; openai?: string; gemini?: string } {
  const endpoints = {
    anthropic: config.ANTHROPIC_BASE_URL,
    openai: config.OPENAI_BASE_URL,
    gemini: config.GOOGLE_GEMINI_BASE_URL,
  };
  return Object.fromEntries(Object.entries(endpoints).filter(([, url]) => url !== undefined));
}

export const HealthConfigSchema = CommonConfigSchema.extend({
  /** Port of its Prometheus `GET /metrics`; 0: not served. */
  HEALTH_METRICS_PORT: intVar(9467, 0, 65_535),
  /** How often stale runners and expired leases are looked for. */
  HEALTH_CHECK_INTERVAL_MS: intVar(1_000, 10),
  ...LeaseConfig,
  /** How often the reconciler looks for work a lost message or timer would strand. */
  HEALTH_RECONCILE_INTERVAL_MS: intVar(5_000, 50),
  /** A run dispatched this long ago and not started has its work message sent again. */
  DROVER_START_DEADLINE_MS: intVar(60_000, 100),
  /** A timer this late (retry or deadline) is carried out by the reconciler itself. */
  HEALTH_TIMER_GRACE_MS: intVar(5_000, 0),
});
export abstract class HealthConfig extends configClass(HealthConfigSchema) {}

/**
 * Scheduler config: the environment, with `--concurrency` from argv in place of
 * DROVER_CONCURRENCY when given (and named as such in errors).
 */
export function loadSchedulerConfig(env: Env = process.env, argv = process.argv): SchedulerConfig {
  const flag = argValue(argv, 'concurrency');
  if (flag === undefined) return loadConfig(SchedulerConfigSchema, env);
  if (flag === '') {
    throw new ConfigError(['--concurrency: needs a value such as {"claude":8,"default":8}']);
  }
  try {
    return loadConfig(SchedulerConfigSchema, { ...env, DROVER_CONCURRENCY: flag });
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(
      error.problems.map((p) => p.replace(/^DROVER_CONCURRENCY\b/, '--concurrency')),
    );
  }
}

export const CliConfigSchema = z.object({
  DROVER_API_URL: z.url().default('http://127.0.0.1:8080'),
  DROVER_API_KEY: z.string().optional(),
  /** Where the dashboard is: `submit` prints its link to each ticket and experiment as well. */
  DROVER_DASHBOARD_URL: z.url().optional(),
});
export type CliConfig = z.output<typeof CliConfigSchema>;
