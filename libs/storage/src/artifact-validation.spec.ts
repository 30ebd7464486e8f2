import { randomUUID } from 'node:crypto';
import { checkArtifactName, checkContentType, checkRunId } from './artifact-validation';
import { InvalidArtifactNameError, StorageError } from './storage.errors';

function refusal(name: string): InvalidArtifactNameError {
  try {
    checkArtifactName(name);
  } catch (err) {
    if (err instanceof InvalidArtifactNameError) return err;
    throw err;
  }
  throw new Error(`${JSON.stringify(name)} was accepted`);
}

describe('checkArtifactName', () => {
  it.each([
    'report.txt',
    'stdout.log',
    'a',
    '0',
    '_',
    'A-Z_a-z.0-9',
    'a..b',
    'trailing-dash-',
    'trailing-dot.',
    'a'.repeat(128),
  ])('accepts the flat name %j and returns it unchanged', (name) => {
    expect(checkArtifactName(name)).toBe(name);
  });

  // [name, what the message must say]
  const hostile: [string, string][] = [
    ['', 'is empty'],
    ['.', 'is ".", a relative path'],
    ['..', 'is "..", a relative path'],
    ['../x', 'path separator "/"'],
    ['../../etc/passwd', 'path separator "/"'],
    ['/etc/passwd', 'path separator "/" (names are flat) at position 0'],
    ['a/b', 'path separator "/" (names are flat) at position 1'],
    ['a\\b', 'path separator "\\"'],
    ['..\\..\\windows', 'path separator "\\"'],
    ['C:\\Windows', 'contains ":" at position 1'],
    ['file:///etc/passwd', 'contains ":"'],
    ['..%2f', 'contains "%"'],
    ['%2e%2e', 'contains "%" (percent-encoding is neither decoded nor allowed) at position 0'],
    ['%2e%2e%2f', 'contains "%"'],
    ['%252e%252e%252f', 'contains "%"'],
    ['..%c0%af', 'contains "%"'],
    ['\0', 'contains a NUL character at position 0'],
    ['report.txt\0.png', 'contains a NUL character at position 10'],
    ['a'.repeat(129), 'is 129 characters long (at most 128)'],
    ['a'.repeat(100_000), 'is 100000 characters long (at most 128)'],
    ['.hidden', 'starts with "."'],
    ['.tmp-0123', 'starts with "."'],
    ['....', 'starts with "."'],
    ['-rf', 'starts with "-"'],
    ['--help', 'starts with "-"'],
    ['a b', 'contains a space'],
    ['a\nb', 'contains the control character U+000A'],
    ['a\rb', 'contains the control character U+000D'],
    ['tab\t', 'contains the control character U+0009'],
    ['del\x7f', 'contains the control character U+007F'],
    ['~root', 'contains "~"'],
    ['$HOME', 'contains "$"'],
    ['a*', 'contains "*"'],
    ['a?b', 'contains "?"'],
    ['a;rm', 'contains ";"'],
    ['`id`', 'contains "`"'],
    // Unicode look-alikes of "." and "/", and other tricks.
    ['\u2024\u2024', 'non-ASCII character U+2024 at position 0'], // one dot leader
    ['\u2025', 'non-ASCII character U+2025'], // two dot leader
    ['\uFF0E\uFF0E', 'non-ASCII character U+FF0E'], // fullwidth full stop
    ['\uFE52\uFE52', 'non-ASCII character U+FE52'], // small full stop
    ['\u3002', 'non-ASCII character U+3002'], // ideographic full stop
    ['..\u2215etc', 'non-ASCII character U+2215 at position 2'], // division slash
    ['..\u2044etc', 'non-ASCII character U+2044'], // fraction slash
    ['..\uFF0Fetc', 'non-ASCII character U+FF0F'], // fullwidth solidus
    ['..\uFF3Cetc', 'non-ASCII character U+FF3C'], // fullwidth reverse solidus
    ['.\u0338', 'non-ASCII character U+0338'], // combining long solidus overlay
    ['a\u200Bb', 'non-ASCII character U+200B'], // zero-width space
    ['evil\u202Etxt.exe', 'non-ASCII character U+202E'], // right-to-left override
    ['\uFEFFreport', 'non-ASCII character U+FEFF'], // byte order mark
    ['rep\u043Ert', 'non-ASCII character U+043E'], // Cyrillic o
    ['\u{1F600}.txt', 'non-ASCII character U+1F600 at position 0'],
    ['a\uD800', 'non-ASCII character U+D800'], // lone surrogate
  ];

  it.each(hostile)('refuses %j saying it %s', (name, reason) => {
    const err = refusal(name);
    expect(err.code).toBe('INVALID_ARTIFACT_NAME');
    expect(err.artifactName).toBe(name);
    expect(err.reason).toContain(reason);
    expect(err.message).toContain(reason);
  });

  it('shows the refused name escaped and cut short in the message', () => {
    expect(refusal('a\0b').message).toBe(
      'invalid artifact name "a\\u0000b": contains a NUL character at position 1 ' +
        '(allowed: A-Z a-z 0-9 . _ -)',
    );
    expect(refusal('x'.repeat(500)).message.length).toBeLessThan(200);
  });

  it('refuses a value that is not a string', () => {
    expect(() => checkArtifactName(42 as unknown as string)).toThrow(
      'invalid artifact name "42": is a number, not a string',
    );
  });
});

describe('checkRunId', () => {
  it('accepts a UUID and returns it in lower case', () => {
    const id = randomUUID();
    expect(checkRunId(id)).toBe(id);
    expect(checkRunId(id.toUpperCase())).toBe(id);
  });

  const id = '0b0e4a8e-4b8f-4d5e-9c1a-2f3e4d5c6b7a';
  it.each([
    '',
    'run-1',
    '..',
    `../${id}`,
    `${id}/..`,
    `${id}/x`,
    `{${id}}`,
    id.replace(/-/g, ''),
    `${id}\n`,
    ` ${id}`,
    `${id}\0`,
  ])('refuses %j', (value) => {
    let refused: unknown;
    try {
      checkRunId(value);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(StorageError);
    expect((refused as StorageError).code).toBe('INVALID_RUN_ID');
    expect((refused as StorageError).message).toContain('not a UUID');
  });
});

describe('checkContentType', () => {
  it.each(['text/plain', 'application/json', 'text/plain; charset=utf-8', 'image/svg+xml'])(
    'accepts %j',
    (type) => {
      expect(checkContentType(type)).toBe(type);
    },
  );

  it.each([
    '',
    'text',
    '/plain',
    'text/plain\r\nX-Injected: 1',
    'text/plaın',
    `text/${'x'.repeat(300)}`,
  ])('refuses %j', (type) => {
    expect(() => checkContentType(type)).toThrow(StorageError);
    expect(() => checkContentType(type)).toThrow('invalid content type');
  });
});
