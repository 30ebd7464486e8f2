import {
  createParamDecorator,
  SetMetadata,
  type CustomDecorator,
  type ExecutionContext,
} from '@nestjs/common';
import type { Request } from 'express';
import type { KeyRole } from '@drover/contracts';
import type { Caller } from '@drover/workflow';

/**
 * What a route needs: a role within the caller's project, `operator` (an admin of
 * the operator project) or `public` (no key). A route that declares nothing needs `admin`.
 */
export type Access = KeyRole | 'operator' | 'public';

export const ACCESS = 'drover:access';

/** Declares what a controller's routes (or one route) need. */
export const Needs = (access: Access): CustomDecorator<string> => SetMetadata(ACCESS, access);

/** A request the authenticator let in, with the caller its key stands for. */
export type AuthedRequest = Request & { caller?: Caller };

/** The authenticated caller of the request (routes that are not `public`). */
export const CallerOf = createParamDecorator((_data: unknown, ctx: ExecutionContext): Caller => {
  const caller = ctx.switchToHttp().getRequest<AuthedRequest>().caller;
  // The guard lets no route that reads the caller run without one.
  if (!caller) throw new Error('route reads the caller but is public');
  return caller;
});
