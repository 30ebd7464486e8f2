import { Injectable } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { ApiKeys, type Caller } from '@drover/workflow';
import { ApiError } from '../api-error';
import type { AuthedRequest } from './access';
import { RateLimits } from './rate-limits';

/** Paths anyone may read: liveness and the API's own documentation. */
const PUBLIC_PATHS = /^\/(health|metrics|docs(-json)?)(\/|$)/;

/** RFC 6750: the scheme in any case, one or more spaces, then the token. */
const BEARER = /^bearer +([\x21-\x7e]{1,200})$/i;

export const UNAUTHENTICATED_MESSAGE =
  'a valid API key is required: send "Authorization: Bearer <key>" (a key may be missing, malformed, expired or revoked)';

/** The 401 every failed authentication gets, whatever was wrong. */
export const unauthenticated = () => new ApiError(401, 'UNAUTHENTICATED', UNAUTHENTICATED_MESSAGE);

/**
 * Authenticates every request except the public paths before anything else reads
 * it (its body is not even parsed), then counts it against its key's rate limit.
 * Unknown paths need a key too, so a caller without one learns nothing of the API.
 */
@Injectable()
export class Authenticator {
  constructor(
    private readonly keys: ApiKeys,
    private readonly limits: RateLimits,
  ) {}

  /**
   * The caller a request's `Authorization` header stands for, or null. A request
   * with more than one such header is refused: Node keeps the first, a proxy in
   * front might have read another, and the two must not disagree on the caller.
   */
  async callerOf(req: IncomingMessage): Promise<Caller | null> {
    const headers = req.rawHeaders.filter(
      (name, i) => i % 2 === 0 && /^authorization$/i.test(name),
    );
    if (headers.length !== 1) return null;
    const bearer = BEARER.exec(req.headers.authorization ?? '');
    return bearer ? this.keys.authenticate(bearer[1]) : null;
  }

  /** Throws the 429 of a caller over its rate limit. */
  async charge(subject: string): Promise<void> {
    const taken = await this.limits.take(subject);
    if (!taken.ok) {
      throw new ApiError(
        429,
        'RATE_LIMITED',
        `too many requests with this key; try again in ${taken.retryAfterSeconds} s`,
        undefined,
        taken.retryAfterSeconds,
      );
    }
  }

  readonly middleware = (req: Request, _res: Response, next: NextFunction): void => {
    if (PUBLIC_PATHS.test(req.path)) {
      next();
      return;
    }
    void (async () => {
      const caller = await this.callerOf(req);
      if (!caller) {
        // Failed attempts count per address, so guessing keys is slowed down too.
        await this.charge(`ip:${req.ip ?? 'unknown'}`);
        throw unauthenticated();
      }
      await this.charge(`key:${caller.keyId}`);
      (req as AuthedRequest).caller = caller;
    })().then(() => next(), next);
  };
}
