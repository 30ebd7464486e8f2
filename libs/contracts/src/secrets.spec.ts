import { randomBytes } from 'node:crypto';
import { mapSpecEnv, openSecret, SEALED_FORMAT, sealSecret, SecretError } from './secrets';
import { TaskSpec } from './task-spec';
import { SubmitTicket } from './tickets';
import { validate, type Issue } from './validation';

const KEY = randomBytes(32);

function openError(sealed: string, key: Uint8Array = KEY): SecretError {
  try {
    openSecret(sealed, key);
  } catch (error) {
    if (error instanceof SecretError) return error;
    throw error;
  }
  throw new Error('expected a SecretError, the value was opened');
}

/** The sealed value with its part `index` (0: version .. 3: ciphertext) changed by `change`. */
function alter(sealed: string, index: number, change: (bytes: Buffer) => void): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[index], 'base64url');
  change(bytes);
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe(sealSecret.name, () => {
  it.each(['hunter22', 'ünïcødé 🔑 value', 'line one\nline two', 'x'.repeat(65_536)])(
    'round-trips %#',
    (value) => {
      const sealed = sealSecret(value, KEY);
      expect(sealed).toMatch(SEALED_FORMAT);
      expect(sealed).not.toContain(value.slice(0, 8));
      expect(openSecret(sealed, KEY)).toBe(value);
    },
  );

  it('draws a fresh IV each time: the same value seals differently', () => {
    const [a, b] = [sealSecret('same value', KEY), sealSecret('same value', KEY)];
    expect(a).not.toBe(b);
    expect(a.split('.')[1]).not.toBe(b.split('.')[1]);
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => sealSecret('value', randomBytes(16))).toThrow(SecretError);
    expect(() => openSecret(sealSecret('value', KEY), randomBytes(31))).toThrow(/32 bytes/);
  });
});

describe(openSecret.name, () => {
  const sealed = sealSecret('the value', KEY);

  it('fails with another key, saying so without the value', () => {
    const error = openError(sealed, randomBytes(32));
    expect(error.message).toMatch(/another key, or altered/);
    expect(error.message).not.toContain('the value');
  });

  it.each([
    ['the ciphertext', 3],
    ['the tag', 2],
    ['the IV', 1],
  ])('fails when %s is altered', (_, index) => {
    const tampered = alter(sealed, index, (bytes) => (bytes[0] ^= 1));
    expect(tampered).toMatch(SEALED_FORMAT);
    expect(openError(tampered).message).toMatch(/altered/);
  });

  it('fails when the ciphertext is cut short', () => {
    const cut = alter(sealed, 3, () => undefined).slice(0, -2);
    expect(() => openSecret(cut, KEY)).toThrow(SecretError);
  });

  it.each([
    '',
    'hunter22',
    sealed.replace(/^v1\./, 'v2.'),
    sealed.split('.').slice(0, 3).join('.'),
    `${sealed}.extra`,
    sealed.replace(/\.[^.]+$/, '.not base64!'),
    alter(sealed, 1, () => undefined).replace(/^v1\.[^.]+/, 'v1.AAAA'),
  ])('refuses a malformed sealed value %#', (malformed) => {
    expect(openError(malformed).message).toMatch(/is not a sealed value/);
  });
});

describe(mapSpecEnv.name, () => {
  it("visits the task's own and each step's variables with their paths", () => {
    const seen: string[] = [];
    const mapped = mapSpecEnv(
      { env: { A: 'a' }, steps: [{ run: 'x' }, { run: 'y', env: { B: 'b' } }], other: 1 },
      (value: string, path) => {
        seen.push(path);
        return value.toUpperCase();
      },
    );
    expect(seen).toEqual(['env.A', 'steps.1.env.B']);
    expect(mapped).toEqual({
      env: { A: 'A' },
      steps: [{ run: 'x' }, { run: 'y', env: { B: 'B' } }],
      other: 1,
    });
  });
});

/** The issues of a ticket with one command task of these fields. */
function issuesOf(task: Record<string, unknown>): Issue[] {
  const result = validate(SubmitTicket, {
    title: 't',
    tasks: [{ key: 'a', steps: [{ run: 'true' }], ...task }],
  });
  return result.ok ? [] : result.issues;
}

describe('secret env values at submission', () => {
  it("accepts a secret in the task's env and in a step's, beside plain values", () => {
    const task = {
      env: { PLAIN: 'visible', TOKEN: { secret: 'hunter22' } },
      steps: [{ run: 'true', env: { STEP_TOKEN: { secret: 'step-secret' } } }],
    };
    expect(issuesOf(task)).toEqual([]);
    const parsed = SubmitTicket.parse({ title: 't', tasks: [{ key: 'a', ...task }] });
    expect(parsed.tasks[0].env).toEqual(task.env);
    expect(parsed.tasks[0].steps?.[0].env).toEqual({ STEP_TOKEN: { secret: 'step-secret' } });
  });

  it('refuses a sealed value from a client, saying how to send a secret', () => {
    const sealed = sealSecret('hunter22', KEY);
    expect(issuesOf({ env: { TOKEN: { sealed } } })).toEqual([
      {
        path: 'tasks[0].env.TOKEN',
        message: 'sealed values are written by the orchestrator; submit {"secret": "<value>"}',
      },
    ]);
    expect(issuesOf({ steps: [{ run: 'x', env: { T: { sealed } } }] })).toEqual([
      {
        path: 'tasks[0].steps[0].env.T',
        message: 'sealed values are written by the orchestrator; submit {"secret": "<value>"}',
      },
    ]);
  });

  it.each<[string, unknown, string]>([
    ['a number', 42, 'tasks[0].env.TOKEN'],
    ['null', null, 'tasks[0].env.TOKEN'],
    ['an array', ['x'], 'tasks[0].env.TOKEN'],
    ['an empty object', {}, 'tasks[0].env.TOKEN'],
    ['a secret that is not text', { secret: 42 }, 'tasks[0].env.TOKEN'],
    ['a secret too short to redact', { secret: 'abc' }, 'tasks[0].env.TOKEN.secret'],
    ['a secret with a NUL', { secret: 'abc\0def' }, 'tasks[0].env.TOKEN.secret'],
    ['a secret with another field', { secret: 'abcd', note: 'x' }, 'tasks[0].env.TOKEN.note'],
    ['both secret and sealed', { secret: 'abcd', sealed: 'x' }, 'tasks[0].env.TOKEN.sealed'],
  ])('refuses %s, naming the field', (_, value, path) => {
    const issues = issuesOf({ env: { TOKEN: value } });
    expect(issues.map((i) => i.path)).toEqual([path]);
    expect(issues[0].message).not.toBe('');
  });

  it('keeps the checks on names for secrets too', () => {
    const secret = { secret: 'hunter22' };
    expect(issuesOf({ env: { DROVER_TOKEN: secret } })).toEqual([
      { path: 'tasks[0].env', message: 'names starting with DROVER_ are reserved' },
    ]);
    expect(issuesOf({ env: { '1BAD': secret } }).map((i) => i.path)).toEqual(['tasks[0].env.1BAD']);
    const proto = JSON.parse('{"__proto__": {"secret": "hunter22"}}') as unknown;
    expect(issuesOf({ env: proto }).map((i) => i.path)).toEqual(['tasks[0].env.__proto__']);
    const many = Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`V${i}`, secret]));
    expect(issuesOf({ env: many })).toEqual([
      { path: 'tasks[0].env', message: 'at most 100 variables' },
    ]);
  });
});

describe('TaskSpec (stored) env values', () => {
  it('takes sealed values and plain text', () => {
    const env = { TOKEN: { sealed: sealSecret('hunter22', KEY) }, PLAIN: 'x' };
    expect(TaskSpec.parse({ env, steps: [{ run: 'x', env }] }).env).toEqual(env);
  });

  it('refuses a plaintext secret: only sealed ones are stored', () => {
    const result = validate(TaskSpec, { env: { TOKEN: { secret: 'hunter22' } } });
    expect(result.ok ? [] : result.issues.map((i) => i.path)).toEqual(['env.TOKEN']);
    const step = validate(TaskSpec, { steps: [{ run: 'x', env: { T: { secret: 'hunter22' } } }] });
    expect(step.ok ? [] : step.issues.map((i) => i.path)).toEqual(['steps[0].env.T']);
  });

  it('refuses a sealed value of the wrong form', () => {
    const result = validate(TaskSpec, { env: { TOKEN: { sealed: 'v1.not-sealed' } } });
    expect(result.ok ? [] : result.issues.map((i) => i.path)).toEqual(['env.TOKEN.sealed']);
  });
});
