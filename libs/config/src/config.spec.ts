import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { argValue, ConfigError, loadConfig } from './config';
import { boolVar, CommonConfigSchema, intVar, TelemetryConfigSchema } from './fields';
import {
  ConcurrencyLimits,
  GatewayConfigSchema,
  HealthConfigSchema,
  loadSchedulerConfig,
  OrchestratorConfigSchema,
  providerEndpointsOf,
  RunnerConfigSchema,
} from './services';

const ARGV = ['node', 'scheduler'];

function configErrorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe(loadConfig.name, () => {
  it('points every service at localhost when the environment is empty', () => {
    const config = loadConfig(CommonConfigSchema, {});
    expect(config).toEqual({
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/drover',
      DROVER_ARTIFACTS: pathToFileURL(join(tmpdir(), 'drover-artifacts')).href,
      NATS_URL: 'nats://127.0.0.1:4222',
      REDIS_URL: 'redis://127.0.0.1:6379',
      DROVER_SUBJECT_PREFIX: '',
      DROVER_REDIS_PREFIX: 'drover',
      LOG_LEVEL: 'log',
      LOG_FORMAT: 'text',
      DROVER_RELAY_POLL_MS: 250,
      METRICS_HOST: '127.0.0.1',
      OTEL_SDK_DISABLED: false,
    });
    for (const url of [config.DATABASE_URL, config.NATS_URL, config.REDIS_URL]) {
      expect(new URL(url).hostname).toBe('127.0.0.1');
    }
  });

  it('gives each service its own metrics port, 0 turning it off, and refuses a bad one naming it', () => {
    expect(loadConfig(OrchestratorConfigSchema, {}).ORCHESTRATOR_METRICS_PORT).toBe(9464);
    expect(loadSchedulerConfig({}, []).SCHEDULER_METRICS_PORT).toBe(9465);
    expect(loadConfig(RunnerConfigSchema, {}).RUNNER_METRICS_PORT).toBe(9466);
    expect(loadConfig(HealthConfigSchema, {}).HEALTH_METRICS_PORT).toBe(9467);
    expect(loadConfig(HealthConfigSchema, { HEALTH_METRICS_PORT: '0' }).HEALTH_METRICS_PORT).toBe(
      0,
    );
    expect(() => loadConfig(RunnerConfigSchema, { RUNNER_METRICS_PORT: '70000' })).toThrow(
      /RUNNER_METRICS_PORT/,
    );
  });

  it('reads and coerces values that are set', () => {
    const config = loadConfig(GatewayConfigSchema, {
      DATABASE_URL: 'postgres://db.internal/drover',
      GATEWAY_PORT: '9090',
      LOG_LEVEL: 'debug',
    });
    expect(config.DATABASE_URL).toBe('postgres://db.internal/drover');
    expect(config.GATEWAY_PORT).toBe(9090);
    expect(config.LOG_LEVEL).toBe('debug');
  });

  it('lists every bad key at once, with the value it got', () => {
    const error = configErrorOf(() =>
      loadConfig(CommonConfigSchema, {
        DATABASE_URL: 'mysql://db/drover',
        LOG_LEVEL: 'loud',
        DROVER_RELAY_POLL_MS: 'often',
        NATS_URL: 'nats://127.0.0.1:4222',
      }),
    );
    expect(error.name).toBe('ConfigError');
    expect(error.problems).toHaveLength(3);
    for (const [key, given] of [
      ['DATABASE_URL', 'mysql://db/drover'],
      ['LOG_LEVEL', 'loud'],
      ['DROVER_RELAY_POLL_MS', 'often'],
    ]) {
      expect(error.message).toContain(`${key}: `);
      expect(error.message).toContain(`(got "${given}")`);
    }
    expect(error.message).not.toContain('NATS_URL');
  });

  it('treats empty strings as unset so defaults apply', () => {
    const config = loadConfig(CommonConfigSchema, {
      DATABASE_URL: '',
      LOG_LEVEL: '',
      DROVER_RELAY_POLL_MS: '',
      DROVER_REDIS_PREFIX: '',
    });
    expect(config.DATABASE_URL).toBe('postgresql://postgres@127.0.0.1:5432/drover');
    expect(config.LOG_LEVEL).toBe('log');
    expect(config.DROVER_RELAY_POLL_MS).toBe(250);
    expect(config.DROVER_REDIS_PREFIX).toBe('drover');
  });

  it('ignores variables the schema does not name', () => {
    const config = loadConfig(CommonConfigSchema, { UNRELATED: 'x', PATH: '/bin' });
    expect(Object.keys(config)).not.toContain('UNRELATED');
    expect(Object.keys(config)).not.toContain('PATH');
  });

  it('refuses integers out of bounds and URLs of the wrong scheme', () => {
    const error = configErrorOf(() =>
      loadConfig(GatewayConfigSchema, {
        GATEWAY_PORT: '70000',
        GATEWAY_MAX_PAGE_SIZE: '0',
        REDIS_URL: 'http://127.0.0.1:6379',
      }),
    );
    expect(error.problems.map((p) => p.split(':')[0]).sort()).toEqual([
      'GATEWAY_MAX_PAGE_SIZE',
      'GATEWAY_PORT',
      'REDIS_URL',
    ]);
  });
});

describe('config fields', () => {
  const schema = z.object({ N: intVar(5, 1, 10), B: boolVar(false), T: boolVar(true) });

  it('defaults integers and booleans', () => {
    expect(loadConfig(schema, {})).toEqual({ N: 5, B: false, T: true });
  });

  it.each([
    ['true', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['0', false],
    ['no', false],
  ])('reads boolean %j as %j', (raw, expected) => {
    expect(loadConfig(schema, { B: raw }).B).toBe(expected);
  });

  it('refuses a boolean spelled otherwise and a fractional integer', () => {
    const error = configErrorOf(() => loadConfig(schema, { B: 'on', N: '2.5' }));
    expect(error.problems).toHaveLength(2);
    expect(error.message).toContain('B: ');
    expect(error.message).toContain('N: ');
  });

  it('accepts only letters, digits, "_" and "-" in the subject prefix', () => {
    expect(loadConfig(CommonConfigSchema, { DROVER_SUBJECT_PREFIX: 'ci_42-a' })).toMatchObject({
      DROVER_SUBJECT_PREFIX: 'ci_42-a',
    });
    const error = configErrorOf(() =>
      loadConfig(CommonConfigSchema, { DROVER_SUBJECT_PREFIX: 'a.b' }),
    );
    expect(error.message).toContain('DROVER_SUBJECT_PREFIX: letters, digits');
  });

  it('checks the telemetry endpoint is a URL and reads the disable flag', () => {
    expect(loadConfig(TelemetryConfigSchema, { OTEL_SDK_DISABLED: 'yes' }).OTEL_SDK_DISABLED).toBe(
      true,
    );
    const error = configErrorOf(() =>
      loadConfig(TelemetryConfigSchema, { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' }),
    );
    expect(error.message).toContain('OTEL_EXPORTER_OTLP_ENDPOINT');
  });

  it('names the OTLP protocol and batch delay the SDK would not understand', () => {
    const config = loadConfig(TelemetryConfigSchema, {
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    expect(config).toMatchObject({
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: 200,
    });
    const error = configErrorOf(() =>
      loadConfig(TelemetryConfigSchema, {
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/xml',
        OTEL_BSP_SCHEDULE_DELAY: 'soon',
      }),
    );
    expect(error.message).toContain('OTEL_EXPORTER_OTLP_PROTOCOL');
    expect(error.message).toContain('OTEL_BSP_SCHEDULE_DELAY');
  });

  it('gives the runner an id that satisfies its own rule', () => {
    const config = loadConfig(RunnerConfigSchema, {});
    expect(config.RUNNER_ID).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);
    // Containers unless told otherwise: the unisolated driver must be chosen explicitly.
    expect(config.RUNNER_SANDBOX).toBe('auto');
    // The shared pool unless a project is named.
    expect(config.RUNNER_PROJECT).toBeUndefined();
  });

  it('refuses a runner default above its ceiling, naming both', () => {
    const defaults = loadConfig(RunnerConfigSchema, {});
    expect(defaults.RUNNER_MEMORY_MB).toBeLessThanOrEqual(defaults.RUNNER_MAX_MEMORY_MB);
    expect(defaults.RUNNER_DISK_MB).toBeLessThanOrEqual(defaults.RUNNER_MAX_DISK_MB);
    const error = configErrorOf(() =>
      loadConfig(RunnerConfigSchema, {
        RUNNER_MEMORY_MB: '4096',
        RUNNER_MAX_MEMORY_MB: '2048',
        RUNNER_DISK_MB: '100',
        RUNNER_MAX_DISK_MB: '50',
      }),
    );
    expect(error.problems).toEqual([
      'RUNNER_MEMORY_MB: 4096 is above RUNNER_MAX_MEMORY_MB (2048): raise the ceiling or lower the default (got "4096")',
      'RUNNER_DISK_MB: 100 is above RUNNER_MAX_DISK_MB (50): raise the ceiling or lower the default (got "100")',
    ]);
  });

  it('takes a project slug as the runner’s pool and refuses anything else', () => {
    expect(loadConfig(RunnerConfigSchema, { RUNNER_PROJECT: 'team-b' }).RUNNER_PROJECT).toBe(
      'team-b',
    );
    for (const bad of ['Team-B', '-b', 'a.b', 'a'.repeat(64)]) {
      const error = configErrorOf(() => loadConfig(RunnerConfigSchema, { RUNNER_PROJECT: bad }));
      expect(error.problems).toEqual([
        expect.stringMatching(/^RUNNER_PROJECT: must be a project slug/),
      ]);
    }
  });

  it("reads the providers' base URLs, leaving out the unset ones", () => {
    const config = loadConfig(RunnerConfigSchema, {
      ANTHROPIC_BASE_URL: 'https://llm-gateway.example.com/anthropic',
      OPENAI_BASE_URL: '',
      GOOGLE_GEMINI_BASE_URL: 'http://10.0.0.7:8080',
    });
    expect(providerEndpointsOf(config)).toEqual({
      anthropic: 'https://llm-gateway.example.com/anthropic',
      gemini: 'http://10.0.0.7:8080',
    });
    expect(providerEndpointsOf(loadConfig(RunnerConfigSchema, {}))).toEqual({});
  });

  it('refuses RUNNER_NETWORK, which no longer decides a sandbox network, saying what does', () => {
    const error = configErrorOf(() => loadConfig(RunnerConfigSchema, { RUNNER_NETWORK: 'true' }));
    expect(error.problems).toEqual([
      expect.stringMatching(/^RUNNER_NETWORK: .*each task's network policy decides/),
    ]);
  });

  it('refuses a base URL that is not an http(s) URL, or holds credentials, a query or quotes', () => {
    const error = configErrorOf(() =>
      loadConfig(RunnerConfigSchema, {
        ANTHROPIC_BASE_URL: 'api.anthropic.com',
        OPENAI_BASE_URL: 'https://user:secret@gateway.example.com/v1',
        GOOGLE_GEMINI_BASE_URL: 'ftp://gateway.example.com',
      }),
    );
    expect(error.problems).toEqual([
      expect.stringMatching(/^ANTHROPIC_BASE_URL: .*is not a URL/),
      expect.stringMatching(/^OPENAI_BASE_URL: .*must not hold credentials/),
      expect.stringMatching(/^GOOGLE_GEMINI_BASE_URL: .*must be an http\(s\) URL/),
    ]);
    for (const bad of [
      'https://gw.example.com/a?b=1',
      'https://gw.example.com/"x',
      'https://gw.example.com/$HOME',
    ]) {
      const problems = configErrorOf(() =>
        loadConfig(RunnerConfigSchema, { ANTHROPIC_BASE_URL: bad }),
      ).problems;
      expect(problems).toEqual([expect.stringMatching(/^ANTHROPIC_BASE_URL: must not/)]);
    }
  });
});

describe(argValue.name, () => {
  it('reads "--name value"', () => {
    expect(argValue(['node', 'x', '--concurrency', '{}', '--other', '1'], 'concurrency')).toBe(
      '{}',
    );
  });

  it('reads "--name=value", keeping any further "="', () => {
    expect(argValue(['--concurrency={"a":1}=x'], 'concurrency')).toBe('{"a":1}=x');
  });

  it('returns undefined when the flag is absent or only a prefix matches', () => {
    expect(argValue(['--concurrency-max', '3', '--concurrencyx=1'], 'concurrency')).toBeUndefined();
    expect(argValue([], 'concurrency')).toBeUndefined();
  });

  it('takes the first occurrence', () => {
    expect(argValue(['--n=1', '--n', '2'], 'n')).toBe('1');
  });
});

describe(loadSchedulerConfig.name, () => {
  it('defaults to a limit of 8 for every provider', () => {
    const config = loadSchedulerConfig({}, ARGV);
    expect(config.DROVER_CONCURRENCY).toEqual({ default: 8 });
    expect(config.SCHEDULER_BATCH_SIZE).toBe(256);
  });

  it('reads DROVER_CONCURRENCY from the environment', () => {
    const config = loadSchedulerConfig({ DROVER_CONCURRENCY: '{"claude":3,"default":1}' }, ARGV);
    expect(config.DROVER_CONCURRENCY).toEqual({ claude: 3, default: 1 });
  });

  it('lets --concurrency override the environment and adds default 8', () => {
    const env = { DROVER_CONCURRENCY: '{"openai":5,"default":1}' };
    const config = loadSchedulerConfig(env, [...ARGV, '--concurrency', '{"claude":2}']);
    expect(config.DROVER_CONCURRENCY).toEqual({ claude: 2, default: 8 });
  });

  it('accepts the --concurrency=value form', () => {
    const config = loadSchedulerConfig({}, [...ARGV, '--concurrency={"gemini":0}']);
    expect(config.DROVER_CONCURRENCY).toEqual({ gemini: 0, default: 8 });
  });

  it('refuses invalid JSON in --concurrency, naming the flag', () => {
    const error = configErrorOf(() =>
      loadSchedulerConfig({}, [...ARGV, '--concurrency', '{claude:2}']),
    );
    expect(error.problems).toEqual([
      '--concurrency: must be JSON such as {"claude":8,"default":8} (got "{claude:2}")',
    ]);
  });

  it('refuses a negative limit in --concurrency, naming the flag and provider', () => {
    const error = configErrorOf(() =>
      loadSchedulerConfig({}, [...ARGV, '--concurrency', '{"claude":-1}']),
    );
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^--concurrency\.claude: /);
  });

  it.each(['null', '[1,2]', '{"claude":1.5}', '{"Claude":1}', '{"claude":"2"}'])(
    'refuses --concurrency %s, naming the flag',
    (raw) => {
      const error = configErrorOf(() => loadSchedulerConfig({}, [...ARGV, '--concurrency', raw]));
      expect(error.problems.length).toBeGreaterThan(0);
      for (const problem of error.problems) expect(problem).toMatch(/^--concurrency[.:]/);
    },
  );

  it('names DROVER_CONCURRENCY when the bad value comes from the environment', () => {
    const error = configErrorOf(() =>
      loadSchedulerConfig({ DROVER_CONCURRENCY: '{"claude":-2}' }, ARGV),
    );
    expect(error.problems[0]).toMatch(/^DROVER_CONCURRENCY\.claude: /);
  });

  it('refuses an empty --concurrency= value, naming --concurrency', () => {
    // The flag was given, so the message must name the flag, not the variable.
    const error = configErrorOf(() => loadSchedulerConfig({}, [...ARGV, '--concurrency=']));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^--concurrency: /);
  });

  it('refuses --concurrency given without a value instead of silently ignoring it', () => {
    const env = { DROVER_CONCURRENCY: '{"claude":5}' };
    const error = configErrorOf(() => loadSchedulerConfig(env, [...ARGV, '--concurrency']));
    expect(error.message).toContain('--concurrency');
  });

  it('reports bad environment keys and a bad --concurrency together', () => {
    const error = configErrorOf(() =>
      loadSchedulerConfig({ SCHEDULER_BATCH_SIZE: '0' }, [...ARGV, '--concurrency', '{bad']),
    );
    expect(error.problems.map((p) => p.split(':')[0]).sort()).toEqual([
      '--concurrency',
      'SCHEDULER_BATCH_SIZE',
    ]);
  });
});

describe('ConcurrencyLimits', () => {
  it('keeps an explicit default over the built-in 8', () => {
    expect(ConcurrencyLimits.parse({ default: 2, claude: 4 })).toEqual({ default: 2, claude: 4 });
  });
});

describe('project quotas', () => {
  it('default to no limit (0) in the scheduler and the orchestrator', () => {
    expect(loadSchedulerConfig({}, ARGV).DROVER_PROJECT_MAX_RUNNING_TASKS).toBe(0);
    expect(loadConfig(OrchestratorConfigSchema, {}).DROVER_PROJECT_MAX_TASKS_PER_HOUR).toBe(0);
  });

  it('read limits that are set', () => {
    const scheduler = loadSchedulerConfig({ DROVER_PROJECT_MAX_RUNNING_TASKS: '20' }, ARGV);
    const orchestrator = loadConfig(OrchestratorConfigSchema, {
      DROVER_PROJECT_MAX_TASKS_PER_HOUR: '1000',
    });
    expect(scheduler.DROVER_PROJECT_MAX_RUNNING_TASKS).toBe(20);
    expect(orchestrator.DROVER_PROJECT_MAX_TASKS_PER_HOUR).toBe(1000);
  });

  it('refuse a negative or fractional limit', () => {
    const error = configErrorOf(() =>
      loadConfig(OrchestratorConfigSchema, { DROVER_PROJECT_MAX_TASKS_PER_HOUR: '-1' }),
    );
    expect(error.problems[0]).toMatch(/^DROVER_PROJECT_MAX_TASKS_PER_HOUR: .*\(got "-1"\)$/);
    expect(() => loadSchedulerConfig({ DROVER_PROJECT_MAX_RUNNING_TASKS: '2.5' }, ARGV)).toThrow(
      /DROVER_PROJECT_MAX_RUNNING_TASKS/,
    );
  });
});
