import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { createTestEnv, waitFor, type TestEnv } from '@drover/testing';

const ROOT = join(__dirname, '../../..');
const run = promisify(execFile);

/** The five Drover services, each started as its own process. */
export const APPS = [
  'health-monitor',
  'orchestrator',
  'scheduler',
  'agent-runner',
  'gateway',
] as const;
export type AppName = (typeof APPS)[number];

/** Stopped first, so the runner deregisters while the health monitor still answers. */
const FIRST_TO_STOP: readonly AppName[] = ['agent-runner', 'gateway'];
const KILL_AFTER_MS = 10_000;
const READY_TIMEOUT_MS = 60_000;
/** Per-process cap on captured output, so a chatty service cannot exhaust memory. */
const MAX_CAPTURED_CHARS = 2_000_000;

const RunnersPage = z.object({
  items: z.array(z.object({ id: z.string(), status: z.string() })),
});

interface ServiceProcess {
  name: AppName;
  child: ChildProcess;
  output: string[];
  capturedChars: number;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: boolean;
}

export interface ExitReport {
  name: AppName;
  code: number | null;
  signal: NodeJS.Signals | null;
  killed: boolean;
}

export interface RunningServices {
  /** `http://127.0.0.1:<port>` of the gateway. */
  baseUrl: string;
  /** `ws://127.0.0.1:<port>` of the gateway (append `/events?...`). */
  wsUrl: string;
  /** The private database, NATS prefix and Redis prefix the services use. */
  env: TestEnv;
  runnerId: string;
  /** Everything the services wrote to stdout and stderr so far, by service. */
  logs(): string;
  /** SIGTERM to every service, SIGKILL after 10 s, then the test env is destroyed. */
  stop(): Promise<ExitReport[]>;
}

/** Bundles the five apps into dist/apps/<name>/main.js. */
export async function buildApps(): Promise<void> {
  await Promise.all(
    APPS.map(async (name) => {
      try {
        await run(process.execPath, [join(ROOT, 'tools/build-app.mjs'), name], { cwd: ROOT });
      } catch (error) {
        const { stdout, stderr } = error as { stdout?: string; stderr?: string };
        throw new Error(
          `building ${name} failed: ${String(error)}\n${stdout ?? ''}${stderr ?? ''}`,
        );
      }
    }),
  );
}

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        server.close();
        reject(new Error(`unexpected server address ${String(address)}`));
        return;
      }
      server.close(() => resolve(address.port));
    });
  });
}

function capture(proc: ServiceProcess, stream: 'out' | 'err', chunk: Buffer): void {
  if (proc.capturedChars > MAX_CAPTURED_CHARS) return;
  const text = chunk.toString('utf8');
  proc.capturedChars += text.length;
  proc.output.push(stream === 'err' ? text.replace(/^(?=.)/gm, '! ') : text);
  if (proc.capturedChars > MAX_CAPTURED_CHARS) proc.output.push('\n[output truncated]\n');
}

function launch(name: AppName, env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, [join(ROOT, 'dist/apps', name, 'main.js')], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc: ServiceProcess = {
    name,
    child,
    output: [],
    capturedChars: 0,
    exited: false,
    exit: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        proc.output.push(`[exited: ${signal ?? `code ${String(code)}`}]\n`);
        proc.exited = true;
        resolve({ code, signal });
      });
      child.once('error', (error) => {
        proc.output.push(`[spawn failed: ${error.message}]\n`);
        proc.exited = true;
        resolve({ code: null, signal: null });
      });
    }),
  };
  child.stdout?.on('data', (chunk: Buffer) => capture(proc, 'out', chunk));
  child.stderr?.on('data', (chunk: Buffer) => capture(proc, 'err', chunk));
  return proc;
}

async function terminate(proc: ServiceProcess): Promise<ExitReport> {
  let killed = false;
  if (!proc.exited) proc.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    if (proc.exited) return;
    killed = true;
    proc.output.push(`[no exit ${KILL_AFTER_MS} ms after SIGTERM: SIGKILL]\n`);
    proc.child.kill('SIGKILL');
  }, KILL_AFTER_MS);
  const { code, signal } = await proc.exit;
  clearTimeout(timer);
  return { name: proc.name, code, signal, killed };
}

async function get(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body };
}

/**
 * Builds the apps, then starts them against a fresh test env and waits until the
 * gateway answers /health with 200 and lists this runner ONLINE. On failure the
 * processes are stopped and the error carries their output.
 */
export async function startServices(): Promise<RunningServices> {
  await buildApps();
  const env = await createTestEnv();
  const port = await freePort();
  const runnerId = `e2e-runner-${randomBytes(4).toString('hex')}`;
  const workdir = await mkdtemp(join(tmpdir(), 'drover-e2e-'));
  const processEnv: Record<string, string> = {
    ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
    ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
    ...env.env,
    GATEWAY_PORT: String(port),
    RUNNER_HEARTBEAT_MS: '1000',
    HEALTH_CHECK_INTERVAL_MS: '200',
    RUNNER_SLOTS: '4',
    LOG_FORMAT: 'json',
    LOG_LEVEL: 'warn',
    RUNNER_ID: runnerId,
    // Run workspaces go in a directory of this test file's own, removed by stop().
    RUNNER_WORKDIR: workdir,
  };
  const procs = APPS.map((name) => launch(name, processEnv));
  const baseUrl = `http://127.0.0.1:${port}`;

  const logs = () =>
    procs
      .map((p) => `----- ${p.name} (pid ${p.child.pid ?? '?'}) -----\n${p.output.join('')}`)
      .join('\n');

  let stopped: Promise<ExitReport[]> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      const first = procs.filter((p) => FIRST_TO_STOP.includes(p.name));
      const rest = procs.filter((p) => !FIRST_TO_STOP.includes(p.name));
      const reports = await Promise.all(first.map(terminate));
      reports.push(...(await Promise.all(rest.map(terminate))));
      await env.destroy();
      await rm(workdir, { recursive: true, force: true });
      return reports;
    })();
    return stopped;
  };

  const exitedEarly = new Promise<never>((_, reject) => {
    for (const proc of procs) {
      void proc.exit.then(({ code, signal }) => {
        if (!stopped) reject(new Error(`${proc.name} exited during start-up (${signal ?? code})`));
      });
    }
  });
  // Keeps a later exit (once ready) from surfacing as an unhandled rejection.
  exitedEarly.catch(() => undefined);

  try {
    await Promise.race([
      exitedEarly,
      (async () => {
        await waitFor(
          async () => (await get(`${baseUrl}/health`)).status === 200,
          'GET /health to answer 200',
          READY_TIMEOUT_MS,
          100,
        );
        await waitFor(
          async () => {
            const { status, body } = await get(`${baseUrl}/runners`);
            if (status !== 200) return false;
            const runner = RunnersPage.parse(body).items.find((r) => r.id === runnerId);
            return runner?.status === 'ONLINE';
          },
          `runner ${runnerId} to be listed ONLINE`,
          READY_TIMEOUT_MS,
          100,
        );
      })(),
    ]);
  } catch (error) {
    await stop().catch(() => undefined);
    throw new Error(`Drover did not start: ${(error as Error).message}\n${logs()}`);
  }

  return { baseUrl, wsUrl: `ws://127.0.0.1:${port}`, env, runnerId, logs, stop };
}
