import type { NextFunction, Request, Response } from 'express';
import type { ServiceMetrics } from '@drover/service-kit';

/**
 * Counts and times every API request by method, route template and status. The
 * template (`/tickets/:id`) is Express's matched route, never the raw path, so ids
 * do not become label values; the dashboard's files count as `route="/ui"`; a
 * request no route took (unknown path, or refused by the key check before
 * routing: 401, 429) counts as `route="unmatched"`.
 */
export function httpMetricsMiddleware(metrics: ServiceMetrics) {
  const requests = metrics.counter({
    name: 'drover_http_requests_total',
    help: 'API requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'],
  });
  const duration = metrics.histogram({
    name: 'drover_http_request_duration_seconds',
    help: 'Time to answer an API request, by method, route template and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  });
  return (req: Request, res: Response, next: NextFunction): void => {
    const end = duration.startTimer();
    res.on('finish', () => {
      const labels = {
        method: req.method,
        route: routeTemplateOf(req, res),
        status: String(res.statusCode),
      };
      requests.inc(labels);
      end(labels);
    });
    next();
  };
}

const TEMPLATE = 'droverRouteTemplate';

/** Names the template of a request that middleware answers, not a route (the dashboard's files). */
export function setRouteTemplate(res: Response, template: string): void {
  (res.locals as Record<string, unknown>)[TEMPLATE] = template;
}

/** The route template a request was answered by, or `unmatched`. */
export function routeTemplateOf(req: Request, res: Response): string {
  const set = (res.locals as Record<string, unknown>)[TEMPLATE];
  if (typeof set === 'string') return set;
  const path = (req.route as { path?: unknown } | undefined)?.path;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : 'unmatched';
}
