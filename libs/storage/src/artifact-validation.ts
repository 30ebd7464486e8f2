import { InvalidArtifactNameError, quote, StorageError } from './storage.errors';

export const MAX_ARTIFACT_NAME_LENGTH = 128;
const NAME_CHAR = /^[A-Za-z0-9._-]$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_CONTENT_TYPE_LENGTH = 255;
/** `type/subtype`, optionally `; parameters`, printable ASCII only (it becomes a header). */
const CONTENT_TYPE =
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*(?: *;[\x20-\x7e]*)?$/;

/**
 * Returns `name` when it is a flat stored name: 1–128 characters of
 * `A-Z a-z 0-9 . _ -`, not `.` or `..`, not starting with `.` (reserved for the
 * stores' temporary files) or `-`. Nothing is decoded or normalised first, so
 * `%2e%2e%2f` or a fullwidth dot is refused, never turned into `../`.
 */
export function checkArtifactName(name: string): string {
  const reason = nameProblem(name);
  if (reason !== undefined) throw new InvalidArtifactNameError(String(name), reason);
  return name;
}

function nameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `is a ${typeof name}, not a string`;
  if (name.length === 0) return 'is empty';
  let position = 0;
  for (const char of name) {
    const problem = charProblem(char);
    if (problem !== undefined) {
      return `${problem} at position ${position} (allowed: A-Z a-z 0-9 . _ -)`;
    }
    position += 1;
  }
  if (name.length > MAX_ARTIFACT_NAME_LENGTH) {
    return `is ${name.length} characters long (at most ${MAX_ARTIFACT_NAME_LENGTH})`;
  }
  if (name === '.' || name === '..') return `is "${name}", a relative path`;
  if (name.startsWith('.')) return 'starts with "."';
  if (name.startsWith('-')) return 'starts with "-" (it would read as a command-line option)';
  return undefined;
}

function charProblem(char: string): string | undefined {
  if (NAME_CHAR.test(char)) return undefined;
  const code = char.codePointAt(0) ?? 0;
  const codePoint = `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
  if (code === 0) return 'contains a NUL character';
  if (char === '/' || char === '\\') return `contains a path separator "${char}" (names are flat)`;
  if (char === '%') return 'contains "%" (percent-encoding is neither decoded nor allowed)';
  if (code < 0x20 || code === 0x7f) return `contains the control character ${codePoint}`;
  if (code > 0x7f) return `contains the non-ASCII character ${codePoint}`;
  if (char === ' ') return 'contains a space';
  return `contains "${char}"`;
}

/**
 * Returns the run id in lower case (one run, one place, however it was spelled)
 * when it is a UUID; throws INVALID_RUN_ID otherwise.
 */
export function checkRunId(runId: string): string {
  if (typeof runId !== 'string' || !UUID.test(runId)) {
    throw new StorageError('INVALID_RUN_ID', `invalid run id ${quote(runId)}: not a UUID`);
  }
  return runId.toLowerCase();
}

/** Returns `contentType` when it is a media type that can travel as an HTTP header. */
export function checkContentType(contentType: string): string {
  if (
    typeof contentType !== 'string' ||
    contentType.length > MAX_CONTENT_TYPE_LENGTH ||
    !CONTENT_TYPE.test(contentType)
  ) {
    throw new StorageError(
      'INVALID_CONTENT_TYPE',
      `invalid content type ${quote(contentType)}: expected type/subtype[; parameters], ` +
        `at most ${MAX_CONTENT_TYPE_LENGTH} printable ASCII characters`,
    );
  }
  return contentType;
}
