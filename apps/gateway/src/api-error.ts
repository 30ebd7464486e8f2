import {
  Catch,
  HttpException,
  Logger,
  type ArgumentsHost,
  type ExceptionFilter,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import type { z } from 'zod';
import { validate, type ErrorBody, type Issue } from '@drover/contracts';
import { RETRY_AFTER_SECONDS, unavailable } from './unavailable';

/** An error answer: `{ error: { code, message, details } }` with an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Issue[],
    /** Sent as `Retry-After` (a 429 or a 503 that will pass). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  /** The error a service replied with (`{ status, error }` of a failed command). */
  static fromReply(reply: { status: number; error: ErrorBody }): ApiError {
    const { code, message, details, retryAfterSeconds } = reply.error;
    return new ApiError(reply.status, code, message, details, retryAfterSeconds);
  }
}

/** Parses `input` or throws a 4xx ApiError naming every bad field under `where`. */
export function parseOrThrow<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: 'body' | 'query' | 'path',
): z.output<S> {
  const result = validate(schema, input);
  if (result.ok) return result.value;
  const status = where === 'body' ? 422 : 400;
  const details = result.issues.map((i) => ({
    ...i,
    path: i.path === '(root)' ? where : `${where}.${i.path}`,
  }));
  throw new ApiError(
    status,
    'INVALID_REQUEST',
    `invalid ${where}: ${details
      .map((d) => `${d.path}: ${d.message}`)
      .slice(0, 5)
      .join('; ')}${details.length > 5 ? `; and ${details.length - 5} more` : ''}`,
    details,
  );
}

/** 415 unless the request's body is declared as JSON. */
export function requireJson(req: Request): void {
  const contentType = req.get('content-type');
  if (!contentType || !/^application\/json\b/i.test(contentType)) {
    throw new ApiError(
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `send the body as application/json (got ${contentType ?? 'no content type'})`,
    );
  }
}

const CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  401: 'UNAUTHENTICATED',
  403: 'FORBIDDEN',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'INVALID_REQUEST',
  429: 'TOO_MANY_REQUESTS',
  503: 'UNAVAILABLE',
};

/** Every error leaves the gateway in one shape; unexpected ones are logged and answered 500. */
@Catch()
export class ApiErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('Http');

  catch(thrown: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    // A dependency that is down is the client's to wait out (503), not a fault here (500).
    const down = unavailable(thrown);
    if (down) this.logger.warn(`${down.code}: ${down.reason}`);
    const error = down
      ? new ApiError(503, down.code, down.message, undefined, RETRY_AFTER_SECONDS)
      : thrown;
    const { status, body } = this.toAnswer(error);
    if (res.headersSent) return;
    if (error instanceof ApiError && error.retryAfterSeconds !== undefined) {
      res.setHeader('Retry-After', String(error.retryAfterSeconds));
    }
    if (status === 401) res.setHeader('WWW-Authenticate', 'Bearer');
    res.status(status).json({ error: body });
  }

  private toAnswer(error: unknown): { status: number; body: Record<string, unknown> } {
    if (error instanceof ApiError) {
      return {
        status: error.status,
        body: {
          code: error.code,
          message: error.message,
          ...(error.details ? { details: error.details } : {}),
        },
      };
    }
    if (error instanceof HttpException) {
      const status = error.getStatus();
      const cause = error.cause as { type?: string } | undefined;
      const message =
        cause?.type === 'entity.parse.failed' || /JSON/.test(error.message)
          ? `request body is not valid JSON: ${error.message}`
          : error.message;
      return { status, body: { code: CODES[status] ?? `HTTP_${status}`, message } };
    }
    // body-parser's errors (http-errors): a `type` for its own, `expose` for a client
    // error it wraps (a body that does not inflate, say).
    const parserError = error as {
      type?: string;
      status?: number;
      expose?: boolean;
      message?: string;
    };
    if (
      typeof parserError.status === 'number' &&
      (parserError.type || (parserError.expose && parserError.status < 500))
    ) {
      const status = parserError.status;
      return {
        status,
        body: {
          code: CODES[status] ?? `HTTP_${status}`,
          message:
            parserError.type === 'entity.parse.failed'
              ? `request body is not valid JSON: ${parserError.message}`
              : (parserError.message ?? 'bad request'),
        },
      };
    }
    this.logger.error(`unhandled error: ${(error as Error).message}`, (error as Error).stack);
    return { status: 500, body: { code: 'INTERNAL', message: 'internal error' } };
  }
}

/** `value`, or a 404 naming what is not there (a row gone between a command and its read). */
export function found<T>(value: T | null, what: string): T {
  if (value === null) throw new ApiError(404, 'NOT_FOUND', `no ${what}`);
  return value;
}
