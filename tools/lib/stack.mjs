// Builds and runs Drover's five services as separate processes (demo and dev).
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const APPS = ['gateway', 'orchestrator', 'scheduler', 'agent-runner', 'health-monitor'];

export function npmInstallIfNeeded(root, log) {
  if (existsSync(join(root, 'node_modules/.package-lock.json'))) return;
  log('installing dependencies (npm ci)...');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
}

/** Bundles `apps`; `dashboard` is the web dashboard's Vite build (skipped when unchanged). */
export function buildApps(root, apps = [...APPS, 'cli', 'dashboard']) {
  for (const app of apps) {
    const [script, ...args] =
      app === 'dashboard' ? ['tools/build-dashboard.mjs', '--quiet'] : ['tools/build-app.mjs', app];
    // stderr is kept so that a failed build's error says why (it ends up in the message).
    execFileSync(process.execPath, [join(root, script), ...args], {
      cwd: root,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }
}

/** Where `npm run dev` and the demo's gateway serves the dashboard. */
export function dashboardUrl(env) {
  return `http://127.0.0.1:${env.GATEWAY_PORT || 8080}/ui`;
}

/** `stdio` as for child_process; the chaos test sends the output to stderr under `--json`. */
export function migrate(root, env, stdio = 'inherit') {
  execFileSync(
    process.execPath,
    [
      join(root, 'node_modules/tsx/dist/cli.mjs'),
      '--tsconfig',
      'tsconfig.json',
      'tools/db-migrate.ts',
    ],
    {
      cwd: root,
      env,
      stdio,
    },
  );
}

/**
 * Issues an admin key of `project` (created if missing) with `npm run bootstrap`'s
 * script against `env.DATABASE_URL`; returns `{ project, key }` (`key.key` is the secret).
 */
export function bootstrapKey(root, env, project = 'default') {
  const out = execFileSync(
    process.execPath,
    [
      join(root, 'node_modules/tsx/dist/cli.mjs'),
      '--tsconfig',
      'tsconfig.json',
      'tools/bootstrap.ts',
      '--project',
      project,
      '--key-name',
      'local stack',
      '--json',
    ],
    { cwd: root, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out);
}

export function freePort(preferred) {
  const tryPort = (port) =>
    new Promise((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(undefined));
      srv.listen(port, '127.0.0.1', () => {
        const { port: got } = srv.address();
        srv.close(() => resolve(got));
      });
    });
  return tryPort(preferred).then((p) => p ?? tryPort(0));
}

/**
 * Starts one app with its own environment; its output goes to `logFile` (and the
 * terminal, prefixed, when `inherit`). `append` keeps what the file holds, so a
 * restarted process (the chaos test restarts services) adds to the same log.
 */
export function startApp(root, app, env, logFile, { inherit = false, append = false } = {}) {
  const child = spawn(process.execPath, [join(root, 'dist/apps', app, 'main.js')], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const file = createWriteStream(logFile, { flags: append ? 'a' : 'w' });
  for (const stream of [child.stdout, child.stderr]) {
    stream.pipe(file, { end: false });
    if (inherit) stream.on('data', (d) => process.stdout.write(`[${app}] ${d}`));
  }
  // Both pipes share the file: close it only once the process and its output are done.
  child.once('close', () => file.end());
  return { app, child };
}

/** Starts every app; output goes to `<logDir>/<app>.log` (and the terminal when `inherit`). */
export function startApps(root, env, logDir, inherit = false) {
  mkdirSync(logDir, { recursive: true });
  return APPS.map((app) => startApp(root, app, env, join(logDir, `${app}.log`), { inherit }));
}

export async function stopApps(procs, timeoutMs = 15_000) {
  await Promise.all(
    procs.map(
      ({ child }) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
          child.once('exit', () => {
            clearTimeout(kill);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}

export async function waitForGateway(url, procs, apiKey, timeoutMs = 60_000) {
  const headers = { authorization: `Bearer ${apiKey}` };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = procs.find(({ child }) => child.exitCode !== null);
    if (dead)
      throw new Error(`${dead.app} exited with code ${dead.child.exitCode} during start-up`);
    try {
      const health = await fetch(`${url}/health`);
      const runners = await fetch(`${url}/runners`, { headers }).then((r) =>
        r.ok ? r.json() : { items: [] },
      );
      if (health.ok && runners.items.some((r) => r.status === 'ONLINE')) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the gateway at ${url} did not become healthy within ${timeoutMs / 1000} s`);
}
