import { ClientRequest, type IncomingMessage } from 'node:http';
import type { Span } from '@opentelemetry/api';
import type { Instrumentation, InstrumentationBase } from '@opentelemetry/instrumentation';
import { ExpressInstrumentation, ExpressLayerType } from '@opentelemetry/instrumentation-express';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { NestInstrumentation } from '@opentelemetry/instrumentation-nestjs-core';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { ATTR_HTTP_ROUTE } from '@opentelemetry/semantic-conventions';
import { clientSpanName, pathTemplate } from './span-names';

/** An instrumentation whose module patches can be applied by hand. */
export type Patcher = Instrumentation & Pick<InstrumentationBase, 'getModuleDefinitions'>;

/** Scrapes and probes: a trace each would bury the traces of real work. */
const UNTRACED_PATHS = new Set(['/metrics', '/health']);

/** An Express request once routed: `route` is the matched route, `baseUrl` its router's mount. */
interface RoutedRequest extends IncomingMessage {
  route?: { path?: unknown };
  baseUrl?: string;
}

/** `/tickets/:id` for a request Express matched to a route; undefined otherwise. */
export function routeOf(req: IncomingMessage): string | undefined {
  const { route, baseUrl } = req as RoutedRequest;
  if (typeof route?.path !== 'string') return undefined;
  return `${baseUrl ?? ''}${route.path}` || '/';
}

/** The server span of a routed request is named by its route, whoever else named it. */
function nameServerSpan(span: Span, req: IncomingMessage): void {
  const route = routeOf(req);
  if (!route) return;
  span.setAttribute(ATTR_HTTP_ROUTE, route);
  span.updateName(`${req.method ?? 'GET'} ${route}`);
}

function nameClientSpan(span: Span, method: string | undefined, path: string): void {
  span.setAttribute('url.template', pathTemplate(path));
  span.updateName(clientSpanName(method, path));
}

/** HTTP in and out (the container engine's API included) and fetch: what carries trace context. */
export function propagatingInstrumentations(): Patcher[] {
  return [
    new HttpInstrumentation({
      ignoreIncomingRequestHook: (req) =>
        req.method === 'GET' && UNTRACED_PATHS.has((req.url ?? '').split('?', 1)[0]),
      requestHook: (span, request) => {
        if (request instanceof ClientRequest) nameClientSpan(span, request.method, request.path);
      },
      applyCustomAttributesOnSpan: (span, request) => {
        if (!(request instanceof ClientRequest)) nameServerSpan(span, request);
      },
    }),
    new UndiciInstrumentation({
      requestHook: (span, request) => nameClientSpan(span, request.method, request.path),
    }),
  ];
}

/**
 * Everything traced when spans are exported: the above, plus Express and Nest
 * (route and handler spans), Postgres statements and Redis commands. Database
 * and Redis spans need a parent, so the pollers (outbox relay, BullMQ's
 * blocking reads) do not start a trace every few milliseconds.
 */
export function allInstrumentations(): Patcher[] {
  return [
    ...propagatingInstrumentations(),
    // Middleware spans (auth, body parsers, CORS) would outnumber the rest of a request's.
    new ExpressInstrumentation({ ignoreLayersType: [ExpressLayerType.MIDDLEWARE] }),
    new NestInstrumentation(),
    new PgInstrumentation({ requireParentSpan: true }),
    new IORedisInstrumentation({ requireParentSpan: true }),
  ];
}
