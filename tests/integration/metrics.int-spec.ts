import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
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

const ROOT = join(__dirname, '../..');
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
    // A stream that takes nothing for this long is closed (the stalled-client test).
    GATEWAY_SLOW_CLIENT_MS: '3000',
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
    if (Number.isNaN(value) && !/^nan$/i.test(sample[3] ?? ''))
      throw new Error(`not a number: ${line}`);
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

/** A command printing `lines` lines of about 1 kB each. */
function floodOf(lines: number): string {
  return `awk 'BEGIN { s = sprintf("%1000s", ""); gsub(/ /, "x", s); for (i = 0; i < ${lines}; i++) print i, s }'`;
}

/**
 * A WebSocket client that rests 40 ms after each message (ws has no public flow
 * control: its socket is paused and resumed) and prints what it saw as JSON.
 */
const SLOW_READER = `
const WebSocket = require('ws');
const ws = new WebSocket(process.env.URL, { headers: { authorization: process.env.AUTH } });
const seen = { closes: [], runs: [], batches: [] };
const done = () => { process.stdout.write(JSON.stringify(seen)); process.exit(0); };
ws.on('open', () => {
});
ws.on('message', (raw) => {
  ws._socket.pause();
  setTimeout(() => ws._socket.resume(), 40);
  const { type, data } = JSON.parse(raw.toString('utf8'));
  if (type === 'run.changed' && data.status === 'SUCCEEDED') ws.close();
  if (type !== 'log.appended') return;
  if (!seen.runs.includes(data.runId)) seen.runs.push(data.runId);
  seen.batches.push(data.firstLine, data.lines.length);
});
ws.on('close', (code) => { if (code !== 1005) seen.closes.push(code); done(); });
ws.on('error', (error) => { console.error(error.message); process.exit(2); });
`;

async function submit(body: unknown): Promise<string> {
  const created = await stack.request(stack.apiKey, 'POST', '/tickets', body);
  expect(created.status).toBe(201);
  return (created.body as { id: string }).id;
}

async function ticket(id: string): Promise<{ status: string }> {
  return (await stack.request(stack.apiKey, 'GET', `/tickets/${id}`)).body as { status: string };
}

/**
 * An event stream whose client completes the handshake and then never reads:
 * a raw socket, paused once the 101 has arrived.
 */
async function stalledStream() {
  const { port } = new URL(stack.baseUrl);
  const socket = connect(Number(port), '127.0.0.1');
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(
    [
      'GET /events HTTP/1.1',
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      `Authorization: ${stack.auth.authorization}`,
      '',
      '',
    ].join('\r\n'),
  );
  const head = await new Promise<string>((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => resolve(chunk.toString('latin1')));
    socket.once('error', reject);
  });
  expect(head.split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
  socket.pause();
  return socket;
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
    const runner = scrapes.get('agent-runner')!.types;
    expect(runner.get('drover_runner_local_slots')).toBe('gauge');
    expect(runner.get('drover_runner_runs_in_progress')).toBe('gauge');
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

  it('the runner serves its own slots and runs in progress by agent', async () => {
    const ticketId = await submit({
      title: 'runner metrics',
      tasks: [{ key: 'slow', steps: [{ run: 'sleep 30' }] }],
    });
    const runner = async () => (await scrape('agent-runner')).samples;
    const sample = (samples: Sample[], name: string, labels: Record<string, string>) =>
      samples.find(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      )?.value;
    const busy = await waitFor(async () => {
      const samples = await runner();
      return sample(samples, 'drover_runner_runs_in_progress', { agent: 'command' }) === 1
        ? samples
        : undefined;
    }, 'the runner to count its run in progress');
    const slots = sample(busy, 'drover_runner_local_slots', { state: 'total' });
    expect(slots).toBeGreaterThan(0);
    expect(sample(busy, 'drover_runner_local_slots', { state: 'free' })).toBe(slots! - 1);

    expect((await stack.request(stack.apiKey, 'POST', `/tickets/${ticketId}/cancel`)).status).toBe(
      200,
    );
    const idle = await waitFor(async () => {
      const samples = await runner();
      return sample(samples, 'drover_runner_runs_in_progress', { agent: 'command' }) === 0
        ? samples
        : undefined;
    }, 'the runner to count no run in progress');
    expect(sample(idle, 'drover_runner_local_slots', { state: 'free' })).toBe(slots);
  }, 60_000);

  it('counts a run its provider refused as rate-limited, by provider', async () => {
    // A stand-in for the Gemini CLI that gives up as the real one does when its
    // provider answers 429: it prints what Gemini CLI 0.61.0 printed then (the
    // executor's fixture) and exits non-zero. The process sandbox finds it on the
    // runner's PATH.
    const bin = await mkdtemp(join(tmpdir(), 'drover-fake-gemini-'));
    const report = join(
      ROOT,
      'libs/execution/src/agents/fixtures/rate-limit/gemini-cli-429.stderr',
    );
    await writeFile(
      join(bin, 'gemini'),
      `#!/bin/sh\ncat >/dev/null\ncat '${report}' >&2\nexit 1\n`,
    );
    await chmod(join(bin, 'gemini'), 0o755);
    const path = process.env.PATH;
    process.env.PATH = `${bin}${delimiter}${path ?? ''}`;
    try {
      const before = await scrapeAll();
      const ticketId = await submit({
        title: 'rate limited',
        tasks: [
          { key: 'refused', agent: 'gemini-cli', prompt: 'hello', retry: { max_attempts: 1 } },
        ],
      });
      await waitFor(
        async () => (await ticket(ticketId)).status === 'FAILED',
        'the refused ticket to fail',
        60_000,
      );
      const [task] = (
        (await stack.request(stack.apiKey, 'GET', `/tickets/${ticketId}`)).body as {
          tasks: { id: string }[];
        }
      ).tasks;
      const detail = (await stack.request(stack.apiKey, 'GET', `/tasks/${task.id}`)).body;
      expect(detail).toMatchObject({ runs: [{ errorClass: 'RATE_LIMITED' }] });
      const after = await waitFor(async () => {
        const scrapes = await scrapeAll();
        const moved =
          total(scrapes, 'drover_rate_limited_runs_total', { provider: 'gemini' }) -
          total(before, 'drover_rate_limited_runs_total', { provider: 'gemini' });
        return moved > 0 ? scrapes : undefined;
      }, 'drover_rate_limited_runs_total{provider="gemini"} to move');
      expect(
        total(after, 'drover_rate_limited_runs_total', { provider: 'gemini' }) -
          total(before, 'drover_rate_limited_runs_total', { provider: 'gemini' }),
      ).toBe(1);
      expect(
        total(after, 'drover_rate_limited_runs_total') -
          total(before, 'drover_rate_limited_runs_total'),
      ).toBe(1);
    } finally {
      process.env.PATH = path;
      await rm(bin, { recursive: true, force: true });
    }
  }, 90_000);

  it('holds back a stream that reads slowly through a flood, and delivers every line', async () => {
    const before = total(await scrapeAll(), 'drover_websocket_slow_clients_dropped_total');
    const ticketId = await submit({
      title: 'flood, read slowly',
      tasks: [{ key: 'flood', steps: [{ run: floodOf(24_000) }] }],
    });
    // The reader runs in its own process (this one hosts every service): it
    // follows the ticket from its first event and rests after each message, a busy
    // browser tab, say, until the run has succeeded or the stream closes.
    const reader = spawn(process.execPath, ['-e', SLOW_READER], {
      cwd: ROOT,
      env: {
        ...process.env,
        URL: `${stack.baseUrl.replace('http', 'ws')}/events?ticket=${ticketId}&since=0`,
        AUTH: stack.auth.authorization,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    reader.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => reader.once('exit', resolve));
    try {
      await waitFor(
        async () => (await ticket(ticketId)).status === 'SUCCEEDED',
        'the flood to end',
        120_000,
      );
      expect(await Promise.race([exited, delay(120_000).then(() => 'still reading')])).toBe(0);
    } finally {
      reader.kill();
    }
    const seen = JSON.parse(out) as {
      closes: number[];
      runs: string[];
      batches: number[];
    };
    expect(seen.closes).toEqual([]);
    expect(seen.runs).toHaveLength(1);
    // [firstLine, count, ...]: each batch starts where the one before ended.
    let next = 0;
    for (let i = 0; i < seen.batches.length; i += 2) {
      expect(seen.batches[i]).toBe(next);
      next += seen.batches[i + 1];
    }
    // Every line the run logged (the flood's and the runner's own), none after.
    expect(next).toBeGreaterThanOrEqual(24_000);
    const rest = await stack.request(
      stack.apiKey,
      'GET',
      `/runs/${seen.runs[0]}/logs?after=${next}`,
    );
    expect((rest.body as { lines: unknown[] }).lines).toEqual([]);
    expect(total(await scrapeAll(), 'drover_websocket_slow_clients_dropped_total')).toBe(before);
  }, 240_000);

  it('drops an event stream that stops reading, and counts it', async () => {
    const before = total(await scrapeAll(), 'drover_websocket_slow_clients_dropped_total');
    const stalled = await stalledStream();
    try {
      // About 24 MB of log events: more than the socket buffers (about 4 MB on
      // loopback) and the gateway's 8 MiB allowance together.
      const ticketId = await submit({
        title: 'flood',
        tasks: [
          {
            key: 'flood',
            steps: [
              {
                run: floodOf(24_000),
              },
            ],
          },
        ],
      });
      await waitFor(
        async () => (await ticket(ticketId)).status === 'SUCCEEDED',
        'the flood to end',
        120_000,
      );
      await waitFor(
        async () =>
          total(await scrapeAll(), 'drover_websocket_slow_clients_dropped_total') - before === 1,
        'the stalled stream to be dropped',
      );
    } finally {
      stalled.destroy();
    }
    await waitFor(
      async () => total(await scrapeAll(), 'drover_websocket_clients') === 0,
      'the dropped stream to be gone',
    );
  }, 180_000);
});
