import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
} from '@opentelemetry/api';

const TRACER = 'drover';

export function tracer() {
  return trace.getTracer(TRACER);
}

/** Any header bag with get/set, such as NATS `MsgHdrs`. */
export interface HeaderCarrier {
  get(key: string): string;
  set(key: string, value: string): void;
}

const setter: TextMapSetter<HeaderCarrier> = { set: (c, k, v) => c.set(k, v) };
const getter: TextMapGetter<HeaderCarrier | undefined> = {
  get: (c, k) => c?.get(k) || undefined,
  keys: () => ['traceparent', 'tracestate'],
};

/** Writes the active trace context (or `ctx`) into message headers. */
export function injectTrace(carrier: HeaderCarrier, ctx: Context = context.active()): void {
  propagation.inject(ctx, carrier, setter);
}

export function extractTrace(carrier: HeaderCarrier | undefined): Context {
  return propagation.extract(context.active(), carrier, getter);
}

/** The active trace context as a W3C `traceparent` string, for storing with a row. */
export function currentTraceparent(): string | null {
  const bag: Record<string, string> = {};
  propagation.inject(context.active(), bag);
  return bag.traceparent ?? null;
}

/** The `traceparent` of a span (for messages it causes). */
export function traceparentOf(span: Span): string | null {
  const bag: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), bag);
  return bag.traceparent ?? null;
}

/** The context a stored `traceparent` describes. */
export function contextFromTraceparent(traceparent: string | null | undefined): Context {
  if (!traceparent) return context.active();
  return propagation.extract(context.active(), { traceparent });
}

/** Runs `fn` with the trace context a stored `traceparent` describes as the active one. */
export function withTraceparent<T>(traceparent: string | null | undefined, fn: () => T): T {
  return context.with(contextFromTraceparent(traceparent), fn);
}

/**
 * Runs `fn` in a new span (child of `parent`, else of the active context);
 * records errors and always ends the span.
 */
export async function withSpan<T>(
  name: string,
  opts: { parent?: Context; kind?: SpanKind; attributes?: Record<string, string | number> },
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  const parent = opts.parent ?? context.active();
  return tracer().startActiveSpan(
    name,
    { kind: opts.kind ?? SpanKind.INTERNAL, attributes: opts.attributes },
    parent,
    async (span) => {
      try {
        return await fn(span);
      } catch (error) {
        span.recordException(error as Error);
        span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
        throw error;
      } finally {
        span.end();
      }
    },
  );
}

/** The trace id of the active span, when one is being recorded or propagated. */
export function activeTraceId(): string | undefined {
  const span = trace.getActiveSpan();
  if (!span) return undefined;
  const ctx = span.spanContext();
  return trace.isSpanContextValid(ctx) ? ctx.traceId : undefined;
}

export { SpanKind };
