import { isBuiltin } from 'node:module';
import { context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  NoopSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { TelemetryConfigSchema, tryLoadConfig, type Env } from '@drover/config';
import { allInstrumentations, propagatingInstrumentations, type Patcher } from './instrumentations';

export interface TelemetryOptions {
  serviceName: string;
  /** Spans go here instead of OTLP (tests pass an InMemorySpanExporter). */
  exporter?: SpanExporter;
  env?: Env;
}

let running: { sdk: NodeSDK; instrumentations: Instrumentation[] } | undefined;

/**
 * Patches the built-in modules the instrumentations cover (`http`, `https`) at
 * once, rather than when next required: they are singletons, some are loaded
 * before this runs, and under Jest require hooks never fire. A patch applied
 * again (when the hook fires after all) replaces this one.
 */
function patchBuiltins(instrumentations: Patcher[]): void {
  for (const instrumentation of instrumentations) {
    for (const { name, patch } of instrumentation.getModuleDefinitions()) {
      const exports = isBuiltin(name) ? process.getBuiltinModule(name) : undefined;
      if (exports && patch) patch(exports);
    }
  }
}

/**
 * What to do with finished spans: the given exporter's; undefined for the
 * SDK's own exporter, set up from the OTEL_EXPORTER_OTLP_* and OTEL_BSP_*
 * variables; or nothing.
 */
function processorsOf(options: TelemetryOptions, exporting: boolean): SpanProcessor[] | undefined {
  if (options.exporter) return [new SimpleSpanProcessor({ exporter: options.exporter })];
  // A provider that drops its spans: trace context is still made and carried on.
  return exporting ? undefined : [new NoopSpanProcessor()];
}

/**
 * Starts the OpenTelemetry Node SDK for this process. Call it first in
 * `main.ts`, before anything else is imported: the instrumentations patch
 * `http`, `express`, `@nestjs/core`, `pg` and `ioredis` as they are required,
 * so a module loaded earlier is not traced (and bundles must leave those
 * packages external, see tools/build-app.mjs).
 *
 * With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) spans are
 * exported there (protocol from `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`, default
 * `http/protobuf`); without, nothing is exported and only HTTP and fetch are
 * instrumented, so that the trace context still crosses every hop and log lines
 * still carry the trace id. `OTEL_SDK_DISABLED=true` turns all of it off.
 */
export function initTelemetry(options: TelemetryOptions): void {
  if (running) return;
  // A bad OTEL_* setting is reported with every other bad key by the service's
  // own config check, which runs next and stops the process; until then, no export.
  const config = tryLoadConfig(TelemetryConfigSchema, options.env);
  if (config?.OTEL_SDK_DISABLED) return;
  const exporting = Boolean(
    config?.OTEL_EXPORTER_OTLP_ENDPOINT || config?.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
  );
  const instrumentations =
    exporting || options.exporter ? allInstrumentations() : propagatingInstrumentations();
  const sdk = new NodeSDK({
    serviceName: config?.OTEL_SERVICE_NAME || `drover-${options.serviceName}`,
    spanProcessors: processorsOf(options, exporting),
    instrumentations,
    textMapPropagator: new W3CTraceContextPropagator(),
    // Traces only: Prometheus serves the metrics, and logs go to stdout.
    metricReaders: [],
    logRecordProcessors: [],
  });
  sdk.start();
  patchBuiltins(instrumentations);
  running = { sdk, instrumentations };
}

/** Exports what is left, then unregisters everything (a later `initTelemetry` starts afresh). */
export async function shutdownTelemetry(): Promise<void> {
  if (!running) return;
  const { sdk, instrumentations } = running;
  running = undefined;
  try {
    await sdk.shutdown();
  } finally {
    for (const instrumentation of instrumentations) instrumentation.disable();
    trace.disable();
    propagation.disable();
    context.disable();
  }
}
