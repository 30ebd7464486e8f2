import { trace } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import { routeTemplateOf } from './http-metrics';

/**
 * The HTTP instrumentation makes each request's server span (named by its route
 * template, see @drover/telemetry); this marks it as the gateway's, as Drover's
 * own spans are marked with their service, and names a request that middleware
 * answered rather than a route (the dashboard's files: `GET /ui`) by its template.
 */
export function tracingMiddleware(req: Request, res: Response, next: NextFunction): void {
  const span = trace.getActiveSpan();
  span?.setAttribute('drover.service', 'gateway');
  if (span) {
    res.on('finish', () => {
      const template = routeTemplateOf(req, res);
      if (template !== 'unmatched' && !req.route) span.updateName(`${req.method} ${template}`);
    });
  }
  next();
}
