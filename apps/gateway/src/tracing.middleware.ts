import { trace } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';

/**
 * The HTTP instrumentation makes each request's server span (named by its route
 * template, see @drover/telemetry); this marks it as the gateway's, as Drover's
 * own spans are marked with their service.
 */
export function tracingMiddleware(_req: Request, _res: Response, next: NextFunction): void {
  trace.getActiveSpan()?.setAttribute('drover.service', 'gateway');
  next();
}
