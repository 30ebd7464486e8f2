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
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BatchSpanProcessor,
  SimpleSpanProcessor,
  TracerProvider,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { TelemetryConfigSchema, tryLoadConfig, type Env } from '@drover/config';

const TRACER = 'drover';

export interface TelemetryOptions {
  serviceName: string;
  /** Spans go here instead of OTLP (tests pass an InMemorySpanExporter). */
  exporter?: SpanExporter;
  env?: Env;
}

let provider: TracerProvider | undefined;

/**
 * Starts tracing for this process. Call it first in `main.ts`, before anything
 * else is imported, so every later module sees the registered provider.
 * Without an exporter or `OTEL_EXPORTER_OTLP_ENDPOINT`, spans are still created
 * and propagated (the trace context crosses every hop) but not exported.
 */
export function initTelemetry(options: TelemetryOptions): TracerProvider {
  if (provider) return provider;
  // A bad OTEL_* setting is reported with every other bad key by the service's
  // own config check, which runs next and stops the process; until then, no export.
  const config = tryLoadConfig(TelemetryConfigSchema, options.env) ?? { OTEL_SDK_DISABLED: true };
  const processors: SpanProcessor[] = [];
  if (options.exporter) processors.push(new SimpleSpanProcessor({ exporter: options.exporter }));
  else if (
    'OTEL_EXPORTER_OTLP_ENDPOINT' in config &&
    config.OTEL_EXPORTER_OTLP_ENDPOINT &&
    !config.OTEL_SDK_DISABLED
  ) {
    processors.push(
      new BatchSpanProcessor({
        exporter: new OTLPTraceExporter({ url: `${config.OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces` }),
      }),
    );
  }
  provider = new TracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]:
        ('OTEL_SERVICE_NAME' in config && config.OTEL_SERVICE_NAME) ||
        `drover-${options.serviceName}`,
    }),
    spanProcessors: processors,
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return provider;
}

export async function shutdownTelemetry(): Promise<void> {
  await provider?.shutdown();
  provider = undefined;
}

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

export { SpanKind };
