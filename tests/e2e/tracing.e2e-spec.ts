import { OtlpReceiver, sandboxTestImage, waitFor, type ReceivedSpan } from '@drover/testing';
import { DroverHttp } from './support/api';
import { useServices } from './support/services';

// Traces from the built services, as an operator gets them: every service
// exports to a collector (here an OTLP/HTTP receiver in the test), and one
// ticket, submitted through the REST API and run in a container, is one trace
// through the gateway, Postgres, the scheduler, the runner and its engine, and
// the orchestrator.

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const HEX_ID = /[0-9a-f]{32,}/i;

function engineHost(): string {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  if (!host) throw new Error('no container engine for the tracing e2e test (see global setup)');
  return host;
}

const receiver = new OtlpReceiver();
// Filled in before the services start: useServices reads it in its own beforeAll, after this one.
const env: Record<string, string> = {
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
  OTEL_BSP_SCHEDULE_DELAY: '200',
  RUNNER_SANDBOX: 'docker',
  DOCKER_HOST: engineHost(),
  RUNNER_IMAGE: sandboxTestImage(),
};
beforeAll(async () => {
  env.OTEL_EXPORTER_OTLP_ENDPOINT = await receiver.start();
});
afterAll(() => receiver.stop());

const { services, logged } = useServices({
  env,
  // Its "run ... started" line is logged at level log.
  appEnv: { 'agent-runner': { LOG_LEVEL: 'log' } },
});
const http = () => new DroverHttp(services().baseUrl, services().apiKey);

const textOf = (value: unknown) => (typeof value === 'string' ? value : '');
const describeSpan = (s: ReceivedSpan) => `${s.service}: ${s.name} (${s.kind})`;

/** The one span of `trace` that `match` picks, with a message listing the trace when there is none. */
function one(trace: ReceivedSpan[], what: string, match: (s: ReceivedSpan) => boolean) {
  const found = trace.filter(match);
  if (found.length !== 1) {
    throw new Error(
      `expected one ${what}, found ${found.length}; the trace:\n${trace.map(describeSpan).join('\n')}`,
    );
  }
  return found[0];
}

/** Whether `span` descends from `ancestor` within `trace`. */
function descendsFrom(trace: ReceivedSpan[], span: ReceivedSpan, ancestor: ReceivedSpan): boolean {
  const byId = new Map(trace.map((s) => [s.spanId, s]));
  for (let at = byId.get(span.parentSpanId ?? ''); at; at = byId.get(at.parentSpanId ?? '')) {
    if (at === ancestor) return true;
  }
  return false;
}

describe('tracing through every service', () => {
  it(
    'puts a ticket in one trace: request, SQL, dispatch, run, engine calls and report, named by templates',
    logged(async () => {
      const submitted = await http().submit({
        title: 'traced',
        tasks: [{ key: 'only', steps: [{ run: 'echo traced' }] }],
      });
      const ticket = await http().waitForTicket(
        submitted.id,
        (t) => t.status === 'SUCCEEDED' || t.status === 'FAILED',
        'the ticket to end',
        90_000,
        200,
      );
      expect(ticket.status).toBe('SUCCEEDED');
      const task = await http().task(ticket.tasks[0].id);
      const runId = task.runs[0].id;

      // The scheduler's dispatch span names the ticket: its trace is the ticket's.
      const dispatch = await waitFor(
        () =>
          receiver.spans.find(
            (s) => s.name === 'dispatch task' && s.attributes['drover.ticket_id'] === ticket.id,
          ),
        'the dispatch span',
        15_000,
      );
      const traceId = dispatch.traceId;
      const report = 'process drover.runner.run.finished.v1';
      // The last spans come in the services' next batches.
      await waitFor(
        () => receiver.trace(traceId).some((s) => s.name === report),
        'the report span',
        15_000,
      );
      const trace = receiver.trace(traceId);

      const request = one(
        trace,
        'gateway request span',
        (s) => s.service === 'drover-gateway' && s.kind === 'SERVER' && s.name === 'POST /tickets',
      );
      expect(request.attributes['http.route']).toBe('/tickets');
      // Nest's handler span, inside the request.
      const handler = one(trace, 'Nest handler span', (s) => s.name === 'TicketsController.submit');
      expect(descendsFrom(trace, handler, request)).toBe(true);

      // SQL statements of the orchestrator writing the ticket (Prisma's, over pg), with their text.
      const statements = trace.filter((s) => s.scope === '@opentelemetry/instrumentation-pg');
      const inserts = statements.filter(
        (s) =>
          s.service === 'drover-orchestrator' &&
          /^\s*INSERT INTO ("public"\.)?"?ticket"? /i.test(textOf(s.attributes['db.query.text'])),
      );
      expect(inserts.length).toBeGreaterThan(0);

      expect(dispatch.service).toBe('drover-scheduler');
      const run = one(
        trace,
        'run span',
        (s) => s.name === 'execute run' && s.attributes['drover.run_id'] === runId,
      );
      expect(run.service).toBe('drover-agent-runner');
      expect(run.attributes['drover.outcome']).toBe('SUCCEEDED');
      expect(descendsFrom(trace, run, dispatch)).toBe(true);

      // The container's life on the engine, under the run, without its id in any name.
      const engine = trace
        .filter((s) => s.kind === 'CLIENT' && descendsFrom(trace, s, run))
        .map((s) => s.name);
      expect(engine).toEqual(
        expect.arrayContaining([
          'POST /containers/create',
          'POST /containers/{id}/attach',
          'POST /containers/{id}/start',
          'DELETE /containers/{id}',
        ]),
      );

      const finished = one(
        trace,
        'report span',
        (s) => s.service === 'drover-orchestrator' && s.name === report,
      );
      expect(descendsFrom(trace, finished, run)).toBe(true);

      // One tree: the request is its only root.
      const ids = new Set(trace.map((s) => s.spanId));
      const roots = trace.filter((s) => !ids.has(s.parentSpanId ?? ''));
      expect(roots.map(describeSpan)).toEqual([describeSpan(request)]);

      // No name anywhere holds an id; the exporter's own requests are not traced.
      const names = [...new Set(receiver.spans.map((s) => s.name))];
      expect(names.filter((name) => UUID.test(name) || HEX_ID.test(name))).toEqual([]);
      expect(names.filter((name) => name.includes('/v1/traces'))).toEqual([]);
      expect(receiver.refused).toEqual([]);

      // The runner's log line about the run carries the trace's id.
      const started = services()
        .app('agent-runner')
        .output()
        .split('\n')
        .filter((line) => line.includes(`run ${runId} (task`));
      expect(started).toHaveLength(1);
      expect(JSON.parse(started[0])).toMatchObject({ traceId });

      process.stdout.write(
        `\ntrace ${traceId} (${trace.length} spans):\n${[...new Set(trace.map(describeSpan))].join('\n')}\n`,
      );
    }),
    150_000,
  );
});
