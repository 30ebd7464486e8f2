import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';

// A collector's OTLP/HTTP traces endpoint, in-process: it takes the JSON encoding
// (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json) and refuses anything else with
// 415, so a service that sends protobuf is noticed rather than misread.

const AnyValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([
    z.object({ stringValue: z.string() }).transform((v) => v.stringValue),
    z.object({ boolValue: z.boolean() }).transform((v) => v.boolValue),
    // int64 is a string in OTLP/JSON, or a number.
    z.object({ intValue: z.union([z.string(), z.number()]) }).transform((v) => Number(v.intValue)),
    z.object({ doubleValue: z.number() }).transform((v) => v.doubleValue),
    z
      .object({ arrayValue: z.object({ values: z.array(AnyValue).default([]) }) })
      .transform((v) => v.arrayValue.values),
    z.object({}).transform(() => null),
  ]),
);
const Attributes = z
  .array(z.object({ key: z.string(), value: AnyValue }))
  .default([])
  .transform((list) => Object.fromEntries(list.map((a) => [a.key, a.value])));
const HexId = (bytes: number) => z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`));

const ExportTraceServiceRequest = z.object({
  resourceSpans: z.array(
    z.object({
      resource: z.object({ attributes: Attributes }).default({ attributes: {} }),
      scopeSpans: z.array(
        z.object({
          scope: z.object({ name: z.string() }).optional(),
          spans: z.array(
            z.object({
              traceId: HexId(16),
              spanId: HexId(8),
              parentSpanId: z.union([HexId(8), z.literal('')]).optional(),
              name: z.string(),
              kind: z.number().int().min(0).max(5),
              attributes: Attributes,
            }),
          ),
        }),
      ),
    }),
  ),
});

const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'] as const;

/** One span as a collector received it. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Undefined for a trace's root. */
  parentSpanId: string | undefined;
  name: string;
  kind: (typeof KINDS)[number];
  /** The resource's `service.name`. */
  service: string;
  /** The instrumentation scope: `drover`, `@opentelemetry/instrumentation-pg`, ... */
  scope: string;
  attributes: Record<string, unknown>;
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function flatten(body: z.output<typeof ExportTraceServiceRequest>): ReceivedSpan[] {
  return body.resourceSpans.flatMap(({ resource, scopeSpans }) =>
    scopeSpans.flatMap(({ scope, spans }) =>
      spans.map((span) => ({
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId || undefined,
        name: span.name,
        kind: KINDS[span.kind],
        service: String(resource.attributes['service.name']),
        scope: scope?.name ?? '',
        attributes: span.attributes,
      })),
    ),
  );
}

export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Requests it refused, as `<status> <method> <path> <content-type>: <why>`. */
  readonly refused: string[] = [];
  private server: Server | undefined;

  /** Listens on a free port of 127.0.0.1; resolves to the endpoint (OTEL_EXPORTER_OTLP_ENDPOINT). */
  async start(): Promise<string> {
    const server = createServer((req, res) => {
      void this.receive(req).then(
        () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'),
        (error: Error & { status?: number }) => {
          const type = req.headers['content-type'] ?? '';
          this.refused.push(
            `${error.status ?? 400} ${req.method} ${req.url} ${type}: ${error.message}`,
          );
          res.writeHead(error.status ?? 400).end(error.message);
        },
      );
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  private async receive(req: IncomingMessage): Promise<void> {
    const body = await read(req);
    const fail = (status: number, message: string) => Object.assign(new Error(message), { status });
    if (req.method !== 'POST' || req.url !== '/v1/traces')
      throw fail(404, 'not the traces endpoint');
    if (!req.headers['content-type']?.startsWith('application/json')) {
      throw fail(415, 'only OTLP/JSON is read here');
    }
    this.spans.push(...flatten(ExportTraceServiceRequest.parse(JSON.parse(body))));
  }

  /** The spans of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((s) => s.traceId === traceId);
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
