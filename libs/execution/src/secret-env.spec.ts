import { randomBytes } from 'node:crypto';
import { sealSecret, TaskSpec } from '@drover/contracts';
import { openSpecSecrets } from './secret-env';
import { InvalidSpecError } from './workspace-errors';

const KEY = randomBytes(32);

function specWith(key: Uint8Array): TaskSpec {
  return TaskSpec.parse({
    env: { PLAIN: 'visible', TOKEN: { sealed: sealSecret('task-secret', key) } },
    steps: [{ run: 'x', env: { STEP: { sealed: sealSecret('step-secret', key) } } }],
  });
}

function invalidSpecOf(fn: () => unknown): InvalidSpecError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidSpecError) return error;
    throw error;
  }
  throw new Error('expected an InvalidSpecError');
}

describe(openSpecSecrets.name, () => {
  it("opens the task's and the steps' sealed values and lists them for redaction", () => {
    const { spec, secrets } = openSpecSecrets(specWith(KEY), KEY);
    expect(spec.env).toEqual({ PLAIN: 'visible', TOKEN: 'task-secret' });
    expect(spec.steps?.[0].env).toEqual({ STEP: 'step-secret' });
    expect(secrets.sort()).toEqual(['step-secret', 'task-secret']);
  });

  it('needs no key for a spec without secrets', () => {
    const plain = TaskSpec.parse({ env: { A: 'a' }, steps: [{ run: 'x' }] });
    expect(openSpecSecrets(plain, undefined)).toEqual({ spec: plain, secrets: [] });
  });

  it('fails naming the variable when the runner has no key', () => {
    const error = invalidSpecOf(() => openSpecSecrets(specWith(KEY), undefined));
    expect(error.message).toBe(
      'env.TOKEN: is a secret, and this runner has no DROVER_SECRETS_KEY to open it',
    );
  });

  it('fails naming the variable, never the value, when the key is another', () => {
    const spec = TaskSpec.parse({
      steps: [{ run: 'x', env: { STEP: { sealed: sealSecret('step-secret', KEY) } } }],
    });
    const error = invalidSpecOf(() => openSpecSecrets(spec, randomBytes(32)));
    expect(error.message).toMatch(
      /^steps\.0\.env\.STEP: is a secret this runner's DROVER_SECRETS_KEY cannot open/,
    );
    expect(error.message).not.toContain('step-secret');
  });
});
