import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * Secret task env values at rest and on the wire to runners: AES-256-GCM under
 * the deployment's DROVER_SECRETS_KEY, written `v1.<iv>.<tag>.<ciphertext>` (each
 * base64url; a random 12-byte IV, a 16-byte tag). The orchestrator seals, runners
 * open; nothing else holds the key. Another algorithm would be another version
 * prefix, opened beside this one.
 */
export const SECRET_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A sealed value as `sealSecret` writes it (the ciphertext of at least one byte). */
export const SEALED_FORMAT = /^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{2,}$/;

/** A secret that cannot be sealed or opened; the message never holds the value. */
export class SecretError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SecretError';
  }
}

function checkKey(key: Uint8Array): void {
  if (key.length !== SECRET_KEY_BYTES) {
    throw new SecretError(`a secrets key must be ${SECRET_KEY_BYTES} bytes, not ${key.length}`);
  }
}

/** Encrypts `value` under `key` (32 bytes); each call draws a fresh IV. */
export function sealSecret(value: string, key: Uint8Array): string {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  const parts = [iv, cipher.getAuthTag(), ciphertext].map((b) => b.toString('base64url'));
  return ['v1', ...parts].join('.');
}

/** The value `sealSecret` sealed; throws a SecretError for another key, an altered or a malformed value. */
export function openSecret(sealed: string, key: Uint8Array): string {
  checkKey(key);
  if (!SEALED_FORMAT.test(sealed)) {
    throw new SecretError('is not a sealed value (v1.<iv>.<tag>.<ciphertext>)');
  }
  const [iv, tag, ciphertext] = sealed
    .split('.')
    .slice(1)
    .map((part) => Buffer.from(part, 'base64url'));
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretError('cannot be opened: it was sealed with another key, or altered');
  }
}

/** The env maps of a spec: the task's own and each command step's. */
export interface SpecEnvs<V> {
  env?: Readonly<Record<string, V>>;
  steps?: readonly { env?: Readonly<Record<string, V>> }[];
}

/** Where an env value is in a spec: `env.NAME`, or `steps.0.env.NAME` for a step's. */
export type EnvPath = `env.${string}` | `steps.${number}.env.${string}`;

type Step<S extends SpecEnvs<unknown>> = NonNullable<S['steps']>[number];
type MappedEnv<W> = { env?: Record<string, W> };

/** `S` with its env values of type `W`. */
export type MappedEnvs<S extends SpecEnvs<unknown>, W> = Omit<S, 'env' | 'steps'> &
  MappedEnv<W> & { steps?: (Omit<Step<S>, 'env'> & MappedEnv<W>)[] };

/** `spec` with each env value replaced by `map(value, path)`; paths are `env.NAME`, `steps.0.env.NAME`. */
export function mapSpecEnv<V, W, S extends SpecEnvs<V>>(
  spec: S,
  map: (value: V, path: EnvPath) => W,
): MappedEnvs<S, W> {
  const mapped = <T extends { env?: Readonly<Record<string, V>> }>(
    holder: T,
    at: '' | `steps.${number}.`,
  ): Omit<T, 'env'> & MappedEnv<W> => {
    const { env, ...rest } = holder;
    if (!env) return rest;
    const entries = Object.entries(env).map(([name, v]) => [name, map(v, `${at}env.${name}`)]);
    return { ...rest, env: Object.fromEntries(entries) as Record<string, W> };
  };
  const top = mapped(spec, '');
  const steps = spec.steps as readonly Step<S>[] | undefined;
  // TypeScript cannot see that replacing `steps` in `Omit<S, 'env'>` gives MappedEnvs<S, W>.
  return (
    steps ? { ...top, steps: steps.map((step, i) => mapped(step, `steps.${i}.`)) } : top
  ) as MappedEnvs<S, W>;
}
