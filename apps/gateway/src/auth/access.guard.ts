import { Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { GatewayConfig } from '@drover/config';
import { roleAllows } from '@drover/contracts';
import { ApiError } from '../api-error';
import { ACCESS, type Access, type AuthedRequest } from './access';
import { unauthenticated } from './authenticator';

/**
 * Lets a request reach its route only when its caller may: 401 without a caller,
 * 403 when the caller's role is short of what the route declares. Whether the
 * object asked for is the caller's project's is the queries' business (404).
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly config: GatewayConfig,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const needs =
      this.reflector.getAllAndOverride<Access | undefined>(ACCESS, [
        context.getHandler(),
        context.getClass(),
      ]) ?? 'admin';
    if (needs === 'public') return true;
    const caller = context.switchToHttp().getRequest<AuthedRequest>().caller;
    if (!caller) throw unauthenticated();
    const allowed =
      needs === 'operator'
        ? caller.role === 'admin' && caller.projectSlug === this.config.GATEWAY_OPERATOR_PROJECT
        : roleAllows(caller.role, needs);
    if (!allowed) {
      throw new ApiError(
        403,
        'FORBIDDEN',
        needs === 'operator'
          ? 'only an admin key of the operator project may do this'
          : `a ${caller.role} key may not do this; it needs the ${needs} role`,
      );
    }
    return true;
  }
}
