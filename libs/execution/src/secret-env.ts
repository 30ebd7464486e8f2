import {
  mapSpecEnv,
  openSecret,
  type CommandStep,
  type MappedEnvs,
  type StoredEnvValue,
  type TaskSpec,
} from '@drover/contracts';
import { InvalidSpecError } from './workspace-errors';

/** A task's spec with its secrets opened: every env value is plain text. */
export type OpenedSpec = MappedEnvs<TaskSpec, string>;

/** A command step as the sandbox runs it: its env values are plain text. */
export type OpenedStep = Omit<CommandStep, 'env'> & { env?: Readonly<Record<string, string>> };

/**
 * Opens the sealed values of a dispatched spec with the runner's secrets key.
 * Returns the spec for the sandbox and the secret values to redact from what
 * the runner reports. A value that cannot be opened ends the run INVALID_SPEC,
 * the error naming the variable, never a value.
 */
export function openSpecSecrets(
  spec: TaskSpec,
  key: Uint8Array | undefined,
): { spec: OpenedSpec; secrets: string[] } {
  const secrets: string[] = [];
  const opened = mapSpecEnv(spec, (value: StoredEnvValue, path): string => {
    if (typeof value === 'string') return value;
    if (!key) {
      throw new InvalidSpecError(
        path,
        'is a secret, and this runner has no DROVER_SECRETS_KEY to open it',
      );
    }
    try {
      const plain = openSecret(value.sealed, key);
      secrets.push(plain);
      return plain;
    } catch {
      throw new InvalidSpecError(
        path,
        "is a secret this runner's DROVER_SECRETS_KEY cannot open (sealed with another key, or altered)",
      );
    }
  });
  return { spec: opened, secrets };
}
