#!/usr/bin/env node
// End-to-end throughput of the five services on this machine: one ticket of N
// independent one-step tasks (`true`), from POST /tickets until the ticket
// ends. Prints tasks per second and dispatch latency (READY -> DISPATCHED) from
// the database. Usage: node tools/bench-flow.mjs [tasks=1000] [runner-slots=32]
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from 'nats';
import pg from 'pg';
import {
  bootstrapKey,
  buildApps,
  freePort,
  migrate,
  startApps,
  stopApps,
  waitForGateway,
} from './lib/stack.mjs';
import { ensureInfra } from './lib/infra.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tasks = Number(process.argv[2] ?? 1000);
const slots = Number(process.argv[3] ?? 32);
const id = randomBytes(4).toString('hex');
const databaseUrl = `postgresql://postgres@127.0.0.1:5432/drover_bench_${id}`;

await ensureInfra(() => undefined);
const port = await freePort(0);
const env = {
  ...process.env,
  DATABASE_URL: databaseUrl,
  DROVER_SUBJECT_PREFIX: `bench${id}`,
  GATEWAY_PORT: String(port),
  // A private stack beside whatever else runs here: no service takes a fixed metrics port.
  ORCHESTRATOR_METRICS_PORT: '0',
  SCHEDULER_METRICS_PORT: '0',
  RUNNER_METRICS_PORT: '0',
  HEALTH_METRICS_PORT: '0',
  RUNNER_SLOTS: String(slots),
  DROVER_CONCURRENCY: JSON.stringify({ default: slots }),
  LOG_LEVEL: 'warn',
  LOG_FORMAT: 'json',
  // Measures the control plane: commands run as plain processes.
  RUNNER_SANDBOX: 'process',
};
migrate(root, env);
const apiKey = bootstrapKey(root, env).key.key;
buildApps(root, ['gateway', 'orchestrator', 'scheduler', 'agent-runner', 'health-monitor']);
const procs = startApps(root, env, join(root, 'tmp/bench-logs'));
const url = `http://127.0.0.1:${port}`;
const db = new pg.Client({ connectionString: databaseUrl });
try {
  await waitForGateway(url, procs, apiKey);
  await db.connect();
  const body = {
    title: `bench ${tasks}`,
    tasks: Array.from({ length: tasks }, (_, i) => ({ key: `t${i}`, steps: [{ run: 'true' }] })),
  };
  const started = performance.now();
  const res = await fetch(`${url}/tickets`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${apiKey}` },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  const submitted = performance.now();
  const { id: ticketId } = await res.json();
  for (;;) {
    const { rows } = await db.query('SELECT status FROM ticket WHERE id = $1', [ticketId]);
    if (['SUCCEEDED', 'FAILED'].includes(rows[0].status)) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const ended = performance.now();
  const {
    rows: [lat],
  } = await db.query(
    `SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms) AS p50,
            percentile_cont(0.99) WITHIN GROUP (ORDER BY ms) AS p99
     FROM (SELECT extract(epoch FROM r.dispatched_at - t.ready_at) * 1000 AS ms
           FROM run r JOIN task t ON t.id = r.task_id WHERE r.ticket_id = $1) x`,
    [ticketId],
  );
  const {
    rows: [phase],
  } = await db.query(
    `SELECT avg(extract(epoch FROM r.started_at - r.dispatched_at) * 1000) AS to_start,
            avg(extract(epoch FROM r.finished_at - r.started_at) * 1000) AS running,
            avg(extract(epoch FROM t.finished_at - r.finished_at) * 1000) AS to_record
     FROM run r JOIN task t ON t.id = r.task_id WHERE r.ticket_id = $1`,
    [ticketId],
  );
  const seconds = (ended - started) / 1000;
  console.log(`tasks: ${tasks}, runner slots: ${slots}`);
  console.log(`submit (validate + write ${tasks} tasks): ${(submitted - started).toFixed(0)} ms`);
  console.log(`end to end: ${seconds.toFixed(2)} s = ${(tasks / seconds).toFixed(0)} tasks/s`);
  console.log(
    `per run (mean): dispatched -> started ${Number(phase.to_start).toFixed(1)} ms, ` +
      `started -> finished ${Number(phase.running).toFixed(1)} ms, ` +
      `finished -> recorded ${Number(phase.to_record).toFixed(1)} ms`,
  );
  console.log(
    `ready -> dispatched: p50 ${Number(lat.p50).toFixed(1)} ms, p99 ${Number(lat.p99).toFixed(1)} ms`,
  );
} finally {
  await db.end().catch(() => undefined);
  await stopApps(procs);
  const nc = await connect({ servers: 'nats://127.0.0.1:4222' });
  const jsm = await nc.jetstreamManager();
  for await (const stream of jsm.streams.list()) {
    if (stream.config.name.startsWith(`BENCH${id.toUpperCase()}_`))
      await jsm.streams.delete(stream.config.name);
  }
  await nc.close();
  const admin = new pg.Client({
    connectionString: 'postgresql://postgres@127.0.0.1:5432/postgres',
  });
  await admin.connect();
  if (!process.env.BENCH_KEEP)
    await admin.query(`DROP DATABASE IF EXISTS drover_bench_${id} WITH (FORCE)`);
  else console.log(`kept ${databaseUrl}`);
  await admin.end();
}
