#!/usr/bin/env node
// `npm run demo`: installs what is missing, makes sure Postgres, Redis and NATS
// answer, applies migrations, builds and starts the five services, submits
// examples/hello-ticket.json, follows it live, and exits 0 when it succeeds.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
const log = (msg) => console.log(`demo: ${msg}`);

const { npmInstallIfNeeded, buildApps, migrate, freePort, startApps, stopApps, waitForGateway } =
  await import('./lib/stack.mjs');
const { ensureInfra } = await import('./lib/infra.mjs');

try {
  npmInstallIfNeeded(root, log);
  log('checking Postgres, Redis and NATS...');
  await ensureInfra((line) => console.log(`demo:${line}`));
  log('applying migrations...');
  migrate(root, process.env);
  log('building the services and the CLI...');
  buildApps(root);
} catch (error) {
  // The failing step has already said what went wrong; add only where we stopped.
  console.error(`demo: stopped: ${error.message.split('\n')[0]}`);
  process.exit(1);
}

const port = await freePort(Number(process.env.GATEWAY_PORT ?? 8080));
const url = `http://127.0.0.1:${port}`;
const env = { ...process.env, GATEWAY_PORT: String(port), LOG_FORMAT: 'json', LOG_LEVEL: 'warn' };
const logDir = join(root, 'tmp/demo-logs');
log(
  `starting gateway, orchestrator, scheduler, agent-runner and health-monitor (logs in tmp/demo-logs/)...`,
);
const procs = startApps(root, env, logDir);
let code = 1;
try {
  await waitForGateway(url, procs);
  log(`Drover is up at ${url} (API docs: ${url}/docs); submitting examples/hello-ticket.json\n`);
  code = await new Promise((resolve) => {
    const cli = spawn(
      process.execPath,
      [join(root, 'dist/apps/cli/main.js'), 'submit', 'examples/hello-ticket.json', '--wait'],
      {
        cwd: root,
        env: { ...process.env, DROVER_API_URL: url },
        stdio: 'inherit',
      },
    );
    cli.on('exit', (c) => resolve(c ?? 1));
  });
} catch (error) {
  console.error(`demo: ${error.message} (see tmp/demo-logs/)`);
} finally {
  log('stopping the services...');
  await stopApps(procs);
}
log(
  `${code === 0 ? 'the ticket SUCCEEDED' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s overall`,
);
process.exit(code);
