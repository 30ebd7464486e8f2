import type { ErrorDetail } from '@drover/contracts/api';

/**
 * An error the Drover API answered with (any 4xx or 5xx), as the API stated it:
 * `{ error: { code, message, details } }`. An answer not in that shape (a
 * proxy's error page, say) keeps its status, with `code` `HTTP_<status>` and
 * its text as `message`.
 */
export class DroverApiError extends Error {
  override readonly name = 'DroverApiError';

  constructor(
    /** The HTTP status: 400, 401, 403, 404, 409, 413, 415, 422, 429, 503 ... */
    readonly status: number,
    /** A stable code to branch on: `NOT_FOUND`, `INVALID_REQUEST`, `INVALID_DOCUMENT`, `FORBIDDEN` ... */
    readonly code: string,
    /** What is wrong, for people. */
    message: string,
    /** Each problem named: a field (`path`, e.g. `body.tasks[0].key`) and, in a document, its `line` and `column`. */
    readonly details: readonly ErrorDetail[] = [],
    /** For a 429 or 503: seconds to wait before asking again (the answer's `Retry-After`). */
    readonly retryAfterSeconds?: number,
    /** The body as answered (parsed JSON, or text). */
    readonly body?: unknown,
  ) {
    super(message);
  }

  /** The error an answer of status `status` with `body` (parsed JSON, or its text) stands for. */
  static fromAnswer(status: number, body: unknown, retryAfterSeconds?: number): DroverApiError {
    const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown } })
      ?.error;
    const code = typeof error?.code === 'string' ? error.code : `HTTP_${status}`;
    const message =
      typeof error?.message === 'string'
        ? error.message
        : typeof body === 'string'
          ? body.trim()
          : (JSON.stringify(body) ?? '');
    const details = Array.isArray(error?.details) ? (error.details as ErrorDetail[]) : [];
    return new DroverApiError(status, code, message, details, retryAfterSeconds, body);
  }
}

/**
 * The API gave no answer at all: the address does not resolve, the connection
 * is refused or drops, TLS fails. Whether a request that was sent took effect
 * is unknown (`createTicket` with an `idempotencyKey` is safe to send again).
 */
export class DroverNetworkError extends Error {
  override readonly name = 'DroverNetworkError';
}
