import { createServer } from 'node:net';
import WebSocket from 'ws';
import { waitFor } from '@drover/testing';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// Every service serves Prometheus metrics (the gateway on /metrics of its API
// port, the others on their own *_METRICS_PORT); the figures move when a ticket
// runs; labels carry route templates, never ids.

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const SERVICES = ['gateway', 'orchestrator', 'scheduler', 'agent-runner', 'health-monitor'];

let stack: InProcessStack;
let endpoints: Record<string, string>;

/** A port free now (the OS's pick), for a service that takes a fixed one. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

beforeAll(async () => {
  const [orchestrator, scheduler, runner, health] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  stack = await startInProcessStack({
    SCHEDULER_POLL_MS: '50',
    ORCHESTRATOR_METRICS_PORT: String(orchestrator),
    SCHEDULER_METRICS_PORT: String(scheduler),
    RUNNER_METRICS_PORT: String(runner),
    HEALTH_METRICS_PORT: String(health),
  });
  const at = (port: number) => `http://127.0.0.1:${port}/metrics`;
  endpoints = {
    gateway: `${stack.baseUrl}/metrics`,
    orchestrator: at(orchestrator),
    scheduler: at(scheduler),
    'agent-runner': at(runner),
    'health-monitor': at(health),
  };
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

/**
 * Parses Prometheus text exposition (format 0.0.4): `# HELP`/`# TYPE` lines and
 * `name{label="value",...} number` samples; anything else fails the test.
 */
function parseExposition(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const type =
      /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    if (/^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$/.test(line)) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a Prometheus exposition line: ${line}`);
    const labels: Record<string, string> = {};
    const pairs = [
      ...(sample[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g),
    ];
    if (pairs.map((p) => p[0]).join('') !== (sample[2] ?? '')) {
      throw new Error(`malformed labels: ${line}`);
    }
    for (const [, name, value] of pairs) labels[name] = value!;
    const value =
      sample[3] === '+Inf' ? Infinity : sample[3] === '-Inf' ? -Infinity : Number(sample[3]);
    if (Number.isNaN(value) && sample[3] !== 'NaN') throw new Error(`not a number: ${line}`);
    samples.push({ name: sample[1], labels, value });
  }
  return { types, samples };
}

async function scrape(service: string) {
  // No key: Prometheus scrapes unauthenticated, like /health.
  const res = await fetch(endpoints[service]);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await res.text());
}

async function scrapeAll() {
  const all = await Promise.all(SERVICES.map(async (s) => [s, await scrape(s)] as const));
  return new Map(all);
}

/** The sum of `name`'s samples whose labels include `match`, over every service. */
function total(
  scrapes: Map<string, { samples: Sample[] }>,
  name: string,
  match: Record<string, string> = {},
): number {
  let sum = 0;
  for (const { samples } of scrapes.values()) {
    for (const s of samples) {
      if (s.name !== name) continue;
      if (Object.entries(match).every(([k, v]) => s.labels[k] === v)) sum += s.value;
    }
  }
  return sum;
}

describe('metrics', () => {
  it('each service serves valid exposition with the Node.js process metrics, labelled by service', async () => {
    const scrapes = await scrapeAll();
    for (const service of SERVICES) {
      const { types, samples } = scrapes.get(service)!;
      expect(types.get('process_cpu_user_seconds_total')).toBe('counter');
      expect(types.get('nodejs_heap_size_used_bytes')).toBe('gauge');
      expect(samples.length).toBeGreaterThan(20);
      for (const s of samples) expect(s.labels.service).toBe(service);
    }
    const gateway = scrapes.get('gateway')!.types;
    expect(gateway.get('drover_http_requests_total')).toBe('counter');
    expect(gateway.get('drover_http_request_duration_seconds')).toBe('histogram');
    expect(gateway.get('drover_websocket_clients')).toBe('gauge');
    expect(gateway.get('drover_websocket_slow_clients_dropped_total')).toBe('counter');
    const orchestrator = scrapes.get('orchestrator')!.types;
    for (const name of [
      'drover_task_transitions_total',
      'drover_run_duration_seconds',
      'drover_rate_limited_runs_total',
      'drover_log_lines_ingested_total',
      'drover_outbox_relay_lag_seconds',
      'drover_outbox_backlog',
      'drover_tasks',
    ]) {
      expect([name, orchestrator.get(name)]).toEqual([name, expect.any(String)]);
    }
    expect(scrapes.get('scheduler')!.types.get('drover_ready_tasks')).toBe('gauge');
    expect(scrapes.get('scheduler')!.types.get('drover_dispatch_latency_seconds')).toBe(
      'histogram',
    );
    const health = scrapes.get('health-monitor')!.types;
    expect(health.get('drover_runner_slots')).toBe('gauge');
    expect(health.get('drover_runner_heartbeat_age_seconds')).toBe('gauge');
  });

  it('the figures move when a ticket runs, with route templates and no ids in labels', async () => {
    const before = await scrapeAll();
    const created = await stack.request(stack.apiKey, 'POST', '/tickets', {
      title: 'metrics',
      tasks: [{ key: 'hello', steps: [{ run: 'echo one; echo two; echo three' }] }],
    });
    expect(created.status).toBe(201);
    const ticketId = (created.body as { id: string }).id;
    await waitFor(
      async () =>
        (
          (await stack.request(stack.apiKey, 'GET', `/tickets/${ticketId}`)).body as {
            status: string;
          }
        ).status === 'SUCCEEDED',
      'the ticket to succeed',
      60_000,
    );
    expect((await stack.request(stack.apiKey, 'GET', '/no-such-route')).status).toBe(404);
    const ws = new WebSocket(`${stack.baseUrl.replace('http', 'ws')}/events`, {
      headers: stack.auth,
    });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));

    // drover_tasks is read from Postgres with a short cache: wait for the settled count.
    const after = await waitFor(async () => {
      const scrapes = await scrapeAll();
      return total(scrapes, 'drover_tasks', { status: 'SUCCEEDED' }) >= 1 ? scrapes : undefined;
    }, 'drover_tasks{status="SUCCEEDED"}');
    ws.close();

    const moved = (name: string, match: Record<string, string> = {}) =>
      total(after, name, match) - total(before, name, match);
    expect(moved('drover_task_transitions_total', { to: 'RUNNING' })).toBeGreaterThanOrEqual(1);
    expect(moved('drover_task_transitions_total', { to: 'SUCCEEDED' })).toBe(1);
    expect(moved('drover_run_duration_seconds_count', { outcome: 'succeeded' })).toBe(1);
    expect(moved('drover_dispatch_latency_seconds_count')).toBe(1);
    expect(moved('drover_start_latency_seconds_count')).toBe(1);
    expect(moved('drover_log_lines_ingested_total')).toBeGreaterThanOrEqual(3);
    expect(moved('drover_outbox_relay_lag_seconds_count')).toBeGreaterThan(0);
    expect(total(after, 'drover_websocket_clients')).toBe(1);
    expect(
      moved('drover_http_requests_total', { method: 'POST', route: '/tickets', status: '201' }),
    ).toBe(1);
    expect(
      moved('drover_http_requests_total', { method: 'GET', route: '/tickets/:id', status: '200' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      moved('drover_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' }),
    ).toBe(1);
    expect(
      moved('drover_http_request_duration_seconds_count', { route: '/tickets/:id' }),
    ).toBeGreaterThanOrEqual(1);
    expect(total(after, 'drover_runner_slots', { runner: stack.runnerId, state: 'total' })).toBe(
      total(after, 'drover_runner_slots', { runner: stack.runnerId, state: 'free' }),
    );
    expect(
      total(after, 'drover_runner_slots', { runner: stack.runnerId, state: 'total' }),
    ).toBeGreaterThan(0);
    const age = total(after, 'drover_runner_heartbeat_age_seconds', { runner: stack.runnerId });
    expect(age).toBeGreaterThanOrEqual(0);
    expect(age).toBeLessThan(10);

    for (const [service, { samples }] of after) {
      for (const s of samples) {
        for (const value of Object.values(s.labels)) {
          expect([service, s.name, value, UUID.test(value)]).toEqual([
            service,
            s.name,
            value,
            false,
          ]);
        }
      }
    }
  }, 90_000);
});
