import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { OtlpReceiver, waitFor } from '@drover/testing';
import { initTelemetry, shutdownTelemetry } from './telemetry';
import { currentTraceparent, withSpan } from './trace-context';

const ROOT = join(__dirname, '../../..');
const FIXTURE = join(__dirname, 'fixtures/round-trip.fixture.ts');
const run = promisify(execFile);

/** What the fixture's server received in its round trip. */
interface RoundTrip {
  traceId: string;
  traceparent: string | null;
}

/** Runs the round-trip fixture as its own Node process with exactly `env` (plus PATH). */
async function roundTrip(env: Record<string, string>): Promise<RoundTrip> {
  const tsx = join(ROOT, 'node_modules/tsx/dist/cli.mjs');
  const { stdout } = await run(process.execPath, [tsx, '--tsconfig', 'tsconfig.json', FIXTURE], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    timeout: 30_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as RoundTrip;
}

describe(initTelemetry.name, () => {
  const receiver = new OtlpReceiver();
  let endpoint: string;

  beforeAll(async () => {
    endpoint = await receiver.start();
  });

  afterAll(() => receiver.stop());

  it('exports over OTLP/HTTP when an endpoint is set, client spans named by path template', async () => {
    const trip = await roundTrip({
      OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    });
    expect(trip.traceparent).toMatch(new RegExp(`^00-${trip.traceId}-[0-9a-f]{16}-01$`));
    const trace = receiver.trace(trip.traceId);
    const names = trace.map((s) => `${s.name} (${s.kind})`).sort();
    expect(names).toEqual(['GET (SERVER)', 'GET /items/{id} (CLIENT)', 'round trip (INTERNAL)']);
    expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['drover-round-trip']));
    expect(receiver.refused).toEqual([]);
  });

  it('sends OTLP as protobuf unless told otherwise', async () => {
    const before = receiver.refused.length;
    await roundTrip({ OTEL_EXPORTER_OTLP_ENDPOINT: endpoint });
    expect(receiver.refused.slice(before)).toEqual([
      expect.stringMatching(/^415 POST \/v1\/traces application\/x-protobuf/),
    ]);
  });

  describe('without an endpoint', () => {
    // Where the SDK's exporter sends by default, were one made.
    let collector: Server;
    const hits: string[] = [];

    beforeAll(async () => {
      collector = createServer((req, res) => {
        hits.push(`${req.method} ${req.url}`);
        res.end();
      });
      await new Promise<void>((resolve, reject) => {
        collector.once('error', reject);
        collector.listen({ port: 4318, host: '::', ipv6Only: false }, resolve);
      });
    });

    afterAll(() => new Promise((resolve) => collector.close(resolve)));

    it('exports nothing, yet trace context still crosses HTTP', async () => {
      const trip = await roundTrip({});
      expect(trip.traceparent).toMatch(new RegExp(`^00-${trip.traceId}-[0-9a-f]{16}-01$`));
      expect(hits).toEqual([]);
      expect(receiver.trace(trip.traceId)).toEqual([]);
    });
  });
});

describe('telemetry in this process', () => {
  afterEach(() => shutdownTelemetry());

  it('is off entirely with OTEL_SDK_DISABLED', async () => {
    initTelemetry({ serviceName: 'off', env: { OTEL_SDK_DISABLED: 'true' } });
    expect(await withSpan('nothing', {}, () => Promise.resolve(currentTraceparent()))).toBeNull();
  });

  it('starts afresh after a shutdown', async () => {
    const first = new InMemorySpanExporter();
    initTelemetry({ serviceName: 'first', exporter: first, env: {} });
    await shutdownTelemetry();
    const second = new InMemorySpanExporter();
    initTelemetry({ serviceName: 'second', exporter: second, env: {} });
    await withSpan('second life', {}, () => Promise.resolve());
    await waitFor(
      () => second.getFinishedSpans().length === 1,
      'the span of the second SDK',
      5_000,
    );
    expect(first.getFinishedSpans()).toEqual([]);
  });
});
