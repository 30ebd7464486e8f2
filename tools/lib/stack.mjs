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

export function buildApps(root, apps = [...APPS, 'cli']) {
  for (const app of apps) {
    execFileSync(process.execPath, [join(root, 'tools/build-app.mjs'), app], {
      cwd: root,
      stdio: 'ignore',
    });
  }
}

export function migrate(root, env) {
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
      stdio: 'inherit',
    },
  );
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

/** Starts every app; output goes to `<logDir>/<app>.log` (and the terminal when `inherit`). */
export function startApps(root, env, logDir, inherit = false) {
  mkdirSync(logDir, { recursive: true });
  return APPS.map((app) => {
    const child = spawn(process.execPath, [join(root, 'dist/apps', app, 'main.js')], {
      cwd: root,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const file = createWriteStream(join(logDir, `${app}.log`));
    for (const stream of [child.stdout, child.stderr]) {
      stream.pipe(file, { end: false });
      if (inherit) stream.on('data', (d) => process.stdout.write(`[${app}] ${d}`));
    }
    return { app, child };
  });
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

export async function waitForGateway(url, procs, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const dead = procs.find(({ child }) => child.exitCode !== null);
    if (dead)
      throw new Error(`${dead.app} exited with code ${dead.child.exitCode} during start-up`);
    try {
      const health = await fetch(`${url}/health`);
      const runners = await fetch(`${url}/runners`).then((r) => (r.ok ? r.json() : { items: [] }));
      if (health.ok && runners.items.some((r) => r.status === 'ONLINE')) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the gateway at ${url} did not become healthy within ${timeoutMs / 1000} s`);
}
