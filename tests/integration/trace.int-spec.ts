import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { initTelemetry, shutdownTelemetry } from '@drover/telemetry';
import { waitFor } from '@drover/testing';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const exporter = new InMemorySpanExporter();
initTelemetry({ serviceName: 'trace-test', exporter });

describe('OpenTelemetry across services', () => {
  let stack: InProcessStack;

  beforeAll(async () => {
    stack = await startInProcessStack();
  }, 60_000);

  afterAll(async () => {
    await stack?.stop();
    await shutdownTelemetry();
  });

  it('puts one ticket in one trace spanning gateway, orchestrator, scheduler and runner', async () => {
    const res = await fetch(`${stack.baseUrl}/tickets`, {
      method: 'POST',
      headers: { ...stack.auth, 'content-type': 'application/json' },
      body: JSON.stringify({
        title: 'traced',
        tasks: [
          { key: 'first', steps: [{ run: 'echo one' }] },
          { key: 'second', depends_on: ['first'], steps: [{ run: 'echo two' }] },
        ],
      }),
    });
    expect(res.status).toBe(201);
    const ticket = (await res.json()) as { id: string };
    await waitFor(
      async () => {
        const t = (await (
          await fetch(`${stack.baseUrl}/tickets/${ticket.id}`, { headers: stack.auth })
        ).json()) as {
          status: string;
        };
        return t.status === 'SUCCEEDED';
      },
      'the ticket to succeed',
      30_000,
    );

    // Probes and scrapes are answered untraced.
    expect((await fetch(`${stack.baseUrl}/health`)).status).toBe(200);
    expect((await fetch(`${stack.baseUrl}/metrics`)).status).toBe(200);

    const spans = exporter.getFinishedSpans();
    // The gateway's server span, named by its route (the test's fetch made the client span).
    const submit = spans.find((s) => s.name === 'POST /tickets' && s.kind === SpanKind.SERVER);
    expect(submit).toBeDefined();
    expect(submit?.attributes['drover.service']).toBe('gateway');
    const traceId = (submit as ReadableSpan).spanContext().traceId;
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
    const services = new Set(inTrace.map((s) => s.attributes['drover.service']));
    expect([...services].sort()).toEqual(
      expect.arrayContaining(['agent-runner', 'gateway', 'orchestrator', 'scheduler']),
    );
    // Both tasks' dispatches and both runs' finish reports belong to the ticket's trace.
    expect(inTrace.filter((s) => s.name === 'dispatch task')).toHaveLength(2);
    expect(inTrace.filter((s) => s.name === 'process drover.runner.run.finished.v1')).toHaveLength(
      2,
    );
    // Every span in the trace hangs off another span of it, except its root: the test's request.
    const ids = new Set(inTrace.map((s) => s.spanContext().spanId));
    const orphans = inTrace.filter((s) => !ids.has(s.parentSpanContext?.spanId ?? ''));
    expect(orphans.map((s) => `${s.name} (${SpanKind[s.kind]})`)).toEqual([
      'POST /tickets (CLIENT)',
    ]);
    expect(submit?.parentSpanContext?.spanId).toBe(orphans[0].spanContext().spanId);

    // Polling the ticket: server spans by route template, client spans by path template.
    const names = new Set(spans.map((s) => `${s.name} (${SpanKind[s.kind]})`));
    expect(names).toContain('GET /tickets/:id (SERVER)');
    expect(names).toContain('GET /tickets/{id} (CLIENT)');
    expect(names).toContain('GET /health (CLIENT)');
    expect(
      spans.filter((s) => s.kind === SpanKind.SERVER && /\/(health|metrics)$/.test(s.name)),
    ).toEqual([]);
    expect(spans.filter((s) => s.kind === SpanKind.SERVER && s.name === 'GET')).toEqual([]);
    expect([...names].filter((name) => UUID.test(name))).toEqual([]);
  }, 60_000);
});
