// Exit codes, and how errors reach the user: as the API stated them (DroverApiError),
// or that it could not be reached (DroverNetworkError), both of @drover/client.
import { DroverApiError, DroverNetworkError, type ErrorDetail } from '@drover/client';

/**
 * 0 success; 1 a followed ticket (submit --wait, status --watch) did not succeed;
 * 2 usage or input error (bad flags, unreadable file, empty directory); 3 the
 * API refused the request (4xx); 4 the API was unreachable or failed (5xx); 5 the
 * output could not be written in full (not when its reader closed early: `| head`).
 */
export const EXIT = {
  ok: 0,
  ticketFailed: 1,
  usage: 2,
  refused: 3,
  unavailable: 4,
  output: 5,
} as const;

export const EXIT_CODES_HELP = `
EXIT CODES
  0  success
  1  a followed ticket did not succeed (submit --wait, status --watch)
  2  usage or input error: bad flags, an unreadable file, a directory without tickets
  3  the API refused the request (4xx), e.g. an invalid work order or a task not waiting
  4  the API was unreachable or failed (5xx)
  5  the output could not be written in full (a full disk); a reader that stops early
     (\`drover logs <id> | head\`) is not an error`;

/** The user asked for something the CLI cannot do as asked (exit 2). */
export class UsageError extends Error {}

/** True when `error` is the API answering 404 (no such ticket, task or run). */
export const isNotFound = (error: unknown): boolean =>
  error instanceof DroverApiError && error.status === 404;

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const where = (d: ErrorDetail) => (d.line === undefined ? '' : ` (${d.line}:${d.column ?? 1})`);

/** `drover: <code>: <message>`, then each detail as `  <path>: <message> (line:column)`. */
export function describeError(error: Error): string[] {
  if (!(error instanceof DroverApiError)) return [`drover: ${error.message}`];
  return [
    `drover: ${error.code}: ${error.message}`,
    ...error.details.map((d) => `  ${d.path ? `${d.path}: ` : ''}${d.message}${where(d)}`),
  ];
}

/**
 * A document's problems as a compiler prints them, `<file>:<line>:<column>: <path>: <message>`,
 * so editors and CI annotate the line. Without details: `<file>: <code>: <message>`.
 */
export function compilerLines(file: string, error: DroverApiError): string[] {
  if (!error.details.length) return [`${file}: ${error.code}: ${error.message}`];
  return error.details.map((d) => {
    const at = d.line === undefined ? file : `${file}:${d.line}:${d.column ?? 1}`;
    return `${at}: ${d.path ? `${d.path}: ` : ''}${d.message}`;
  });
}

/** The exit code an error ends the CLI with. */
export function exitCodeOf(error: Error): number {
  if (error instanceof DroverApiError) return error.status >= 500 ? EXIT.unavailable : EXIT.refused;
  if (error instanceof DroverNetworkError) return EXIT.unavailable;
  return EXIT.usage;
}
