import type { z } from 'zod';

/** Thrown at boot when the environment is invalid; lists every bad key at once. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export type Env = Readonly<Record<string, string | undefined>>;

/** Variables whose values an error never repeats. */
const SECRET_NAME = /SECRET|PASSWORD|TOKEN|_KEYS?$/;

/**
 * Parses `env` with `schema`. Empty strings count as unset so that a blank
 * `FOO=` in a .env file falls back to the default rather than failing.
 */
export function loadConfig<S extends z.ZodObject>(schema: S, env: Env = process.env): z.output<S> {
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const key = issue.path.length ? issue.path.map(String).join('.') : '(environment)';
        const name = issue.path[0];
        const given = typeof name === 'string' && !SECRET_NAME.test(name) ? input[name] : undefined;
        return `${key}: ${issue.message}${given === undefined ? '' : ` (got "${given}")`}`;
      }),
    );
  }
  return result.data;
}

/** Like `loadConfig`, but answers null instead of throwing when the environment is invalid. */
export function tryLoadConfig<S extends z.ZodObject>(
  schema: S,
  env: Env = process.env,
): z.output<S> | null {
  try {
    return loadConfig(schema, env);
  } catch (error) {
    if (error instanceof ConfigError) return null;
    throw error;
  }
}

/** Reads `--name value` or `--name=value` from argv; `''` when the flag has no value. */
export function argValue(argv: readonly string[], name: string): string | undefined {
  const flag = `--${name}`;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === flag) return argv[i + 1] ?? '';
    if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
  }
  return undefined;
}
