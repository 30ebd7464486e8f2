import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import { tracer } from '@drover/telemetry';
import { routeTemplateOf } from './http-metrics';

/**
 * One server span per HTTP request; handlers (and the NATS requests they make) run
 * inside it. Once answered, a request a route (or the dashboard) took is named by
 * its template (`GET /tickets/:id`), so span names carry no ids.
 */
export function tracingMiddleware(req: Request, res: Response, next: NextFunction): void {
  const span = tracer().startSpan(`${req.method} ${req.path}`, {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': req.method,
      'url.path': req.path,
      'drover.service': 'gateway',
    },
  });
  res.on('finish', () => {
    const template = routeTemplateOf(req, res);
    if (template !== 'unmatched') span.updateName(`${req.method} ${template}`);
    span.setAttribute('http.response.status_code', res.statusCode);
    if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end();
  });
  context.with(trace.setSpan(context.active(), span), next);
}
