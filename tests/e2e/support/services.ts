import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  copyFile,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  utimes,
} from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { LoopDiskQuota } from '@drover/execution';
import { createTestEnv, waitFor, type TestEnv } from '@drover/testing';
import { ApiKeys, DEFAULT_PROJECT } from '@drover/workflow';

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

/** Where services are started from: snapshots of dist/apps, by content. */
const BUNDLES_DIR = join(ROOT, 'dist/e2e-bundles');
/** Held while dist/apps is rebuilt, so test files building at once do not interleave. */
const BUILD_LOCK = join(ROOT, 'dist/e2e-bundles.lock');
const BUILD_LOCK_TIMEOUT_MS = 180_000;
/** A lock older than this was left by a test process that died while building. */
const STALE_LOCK_MS = 120_000;
/** Bundle snapshots unused for this long are removed. */
const OLD_BUNDLES_MS = 3 * 3_600_000;

const RunnersPage = z.object({
  items: z.array(z.object({ id: z.string(), status: z.string() })),
});

/** How a process ended: an exit code, or the signal that ended it. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface ServiceProcess {
  name: AppName;
  child: ChildProcess;
  output: string[];
  stdout: string[];
  stderr: string[];
  capturedChars: number;
  exit: Promise<ProcessExit>;
  exited: boolean;
  /** The test signalled this process itself (so its exit is the test's business). */
  byTest: boolean;
  runnerId: string | undefined;
}

export interface ExitReport {
  name: AppName;
  code: number | null;
  signal: NodeJS.Signals | null;
  killed: boolean;
  pid?: number;
  /** The test stopped, killed or signalled this process itself before `stop()`. */
  byTest?: boolean;
}

/** One running (or exited) service process of a stack. */
export interface AppHandle {
  readonly name: AppName;
  readonly pid: number | undefined;
  /** RUNNER_ID of an agent-runner; undefined for the other apps. */
  readonly runnerId: string | undefined;
  /** Resolves when the process has exited. */
  readonly exit: Promise<ProcessExit>;
  hasExited(): boolean;
  /** Sends `signal` to the process; its exit is then not reported as unclean. */
  signal(signal: NodeJS.Signals): void;
  /** What the process wrote to stdout and stderr so far (stderr lines marked `! `). */
  output(): string;
  /** What the process wrote to stderr so far. */
  stderr(): string;
}

export interface StartOptions {
  /** Extra environment for every app, applied over the defaults. */
  env?: Readonly<Record<string, string>>;
  /** Extra environment per app, applied over `env`. */
  appEnv?: Partial<Record<AppName, Readonly<Record<string, string>>>>;
  /**
   * Whether to start the stack's own runner and wait for it to be ONLINE
   * (default true). Without it, start runners with `startRunner`.
   */
  runner?: boolean;
}

export interface RunnerOptions {
  /** Defaults to a fresh `e2e-runner-<hex>`. */
  runnerId?: string;
  /** Extra environment, applied over the stack's agent-runner environment. */
  env?: Readonly<Record<string, string>>;
}

export interface RunningServices {
  /** `http://127.0.0.1:<port>` of the gateway. */
  baseUrl: string;
  /** `ws://127.0.0.1:<port>` of the gateway (append `/events?...`). */
  wsUrl: string;
  /** An admin key of the default project, for every request the tests make. */
  apiKey: string;
  /** The private database, NATS prefix and Redis prefix the services use. */
  env: TestEnv;
  /** RUNNER_ID of the stack's own runner (none runs when started with `runner: false`). */
  runnerId: string;
  /** Everything the services wrote to stdout and stderr so far, by service. */
  logs(): string;
  /** SIGTERM to every service, SIGKILL after 10 s, then the test env is destroyed. */
  stop(): Promise<ExitReport[]>;
  /** The most recently started process of `name`. */
  app(name: AppName): AppHandle;
  /** Starts one more process of `name` with the stack's environment plus `env`; no wait. */
  startApp(name: AppName, env?: Readonly<Record<string, string>>): AppHandle;
  /** Starts one more runner and waits until GET /runners lists it ONLINE. */
  startRunner(options?: RunnerOptions): Promise<AppHandle>;
  /** SIGTERM to one process (the latest of a name), SIGKILL after 10 s; waits for its exit. */
  stopApp(target: AppName | AppHandle): Promise<ExitReport>;
  /** SIGKILL to one process (the latest of a name); waits for its exit. */
  killApp(target: AppName | AppHandle): Promise<ExitReport>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `fn` while holding the build lock (a directory: mkdir is atomic). */
async function withBuildLock<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + BUILD_LOCK_TIMEOUT_MS;
  await mkdir(join(BUILD_LOCK, '..'), { recursive: true });
  for (;;) {
    try {
      await mkdir(BUILD_LOCK);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const age = await stat(BUILD_LOCK).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      if (age > STALE_LOCK_MS) {
        await rm(BUILD_LOCK, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${BUILD_LOCK} was held too long`);
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    await rm(BUILD_LOCK, { recursive: true, force: true });
  }
}

/** The dashboard's Vite build, which the gateway serves at /ui (skipped when its sources are unchanged). */
const DASHBOARD_DIR = join(ROOT, 'dist/apps/dashboard');

async function buildAll(): Promise<void> {
  const builds: [string, string[]][] = [
    ...APPS.map((name): [string, string[]] => [name, ['tools/build-app.mjs', name]]),
    ['dashboard', ['tools/build-dashboard.mjs', '--quiet']],
  ];
  await Promise.all(
    builds.map(async ([name, [script, ...args]]) => {
      try {
        await run(process.execPath, [join(ROOT, script), ...args], { cwd: ROOT });
      } catch (error) {
        const { stdout, stderr } = error as { stdout?: string; stderr?: string };
        throw new Error(
          `building ${name} failed: ${String(error)}\n${stdout ?? ''}${stderr ?? ''}`,
        );
      }
    }),
  );
}

/** Bundles the five apps into dist/apps/<name>/main.js, and the dashboard into dist/apps/dashboard. */
export async function buildApps(): Promise<void> {
  await withBuildLock(buildAll);
}

/** The `drover` CLI's bundle, which `buildCli` writes. */
export const CLI_BIN = join(ROOT, 'dist/apps/cli/main.js');

/** Bundles the CLI into CLI_BIN: `buildApps` and `prepareApps` leave it out. */
export async function buildCli(): Promise<void> {
  await run(process.execPath, [join(ROOT, 'tools/build-app.mjs'), 'cli'], { cwd: ROOT });
}

/** The environment the CLI runs in against `services`: of the host's only PATH, plain output. */
export function cliEnv(services: Pick<RunningServices, 'baseUrl' | 'apiKey'>): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    DROVER_API_URL: services.baseUrl,
    DROVER_API_KEY: services.apiKey,
    NO_COLOR: '1',
  };
}

/** Removes snapshots no test process has used for a while (see `prepareApps`). */
async function removeOldSnapshots(keep: string): Promise<void> {
  const entries = await readdir(BUNDLES_DIR).catch(() => [] as string[]);
  await Promise.all(
    entries.map(async (entry) => {
      const path = join(BUNDLES_DIR, entry);
      if (path === keep) return;
      const { mtimeMs } = await stat(path);
      if (Date.now() - mtimeMs > OLD_BUNDLES_MS) await rm(path, { recursive: true, force: true });
    }),
  );
}

/** The dashboard's files (relative paths), sorted: the snapshot copies them beside the bundles. */
async function dashboardFiles(): Promise<string[]> {
  const entries = await readdir(DASHBOARD_DIR, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(DASHBOARD_DIR.length + 1))
    .sort();
}

/**
 * Copies the freshly built bundles to a snapshot directory named by their content,
 * with the dashboard as `dashboard/` beside them: the gateway serves the one beside
 * its own bundle.
 */
async function snapshotBundles(): Promise<string> {
  const hash = createHash('sha256');
  for (const name of APPS) {
    hash.update(name).update(await readFile(join(ROOT, 'dist/apps', name, 'main.js')));
  }
  const ui = await dashboardFiles();
  for (const file of ui) hash.update(file).update(await readFile(join(DASHBOARD_DIR, file)));
  const dir = join(BUNDLES_DIR, hash.digest('hex').slice(0, 16));
  if (existsSync(dir)) {
    // In use again: keeps it from being removed as old.
    const now = new Date();
    await utimes(dir, now, now);
  } else {
    const partial = await mkdtemp(join(BUNDLES_DIR, '.partial-'));
    for (const name of APPS) {
      await mkdir(join(partial, name));
      for (const file of ['main.js', 'main.js.map']) {
        await copyFile(join(ROOT, 'dist/apps', name, file), join(partial, name, file));
      }
    }
    for (const file of ui) {
      await mkdir(join(partial, 'dashboard', file, '..'), { recursive: true });
      await copyFile(join(DASHBOARD_DIR, file), join(partial, 'dashboard', file));
    }
    await rename(partial, dir);
  }
  await removeOldSnapshots(dir).catch(() => undefined);
  return dir;
}

let bundles: Promise<string> | undefined;

/**
 * Builds the apps (once per test file) and snapshots the bundles into a directory
 * named by their content, under the repository so that npm packages still resolve
 * from its node_modules. Services start from the snapshot, so another test file
 * rebuilding dist/apps cannot change a bundle while one of them is loading it.
 * Returns the directory, holding `<name>/main.js` and `dashboard/`. Snapshots unused for 3 hours
 * are removed by the next build.
 */
export function prepareApps(): Promise<string> {
  bundles ??= (async () => {
    await mkdir(BUNDLES_DIR, { recursive: true });
    return withBuildLock(async () => {
      await buildAll();
      return snapshotBundles();
    });
  })();
  bundles.catch(() => {
    bundles = undefined;
  });
  return bundles;
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
  (stream === 'err' ? proc.stderr : proc.stdout).push(text);
  if (proc.capturedChars > MAX_CAPTURED_CHARS) proc.output.push('\n[output truncated]\n');
}

function launch(
  name: AppName,
  env: Record<string, string>,
  bundleDir: string,
  args: readonly string[] = [],
): ServiceProcess {
  const child = spawn(process.execPath, [join(bundleDir, name, 'main.js'), ...args], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc: ServiceProcess = {
    name,
    child,
    output: [],
    stdout: [],
    stderr: [],
    capturedChars: 0,
    exited: false,
    byTest: false,
    runnerId: name === 'agent-runner' ? env.RUNNER_ID : undefined,
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

function handleOf(proc: ServiceProcess): AppHandle {
  return {
    name: proc.name,
    pid: proc.child.pid,
    runnerId: proc.runnerId,
    exit: proc.exit,
    hasExited: () => proc.exited,
    signal: (signal) => {
      proc.byTest = true;
      if (!proc.exited) proc.child.kill(signal);
    },
    output: () => proc.output.join(''),
    stderr: () => proc.stderr.join(''),
  };
}

function reportOf(proc: ServiceProcess, exit: ProcessExit, killed: boolean): ExitReport {
  return { name: proc.name, ...exit, killed, pid: proc.child.pid, byTest: proc.byTest };
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
  const exit = await proc.exit;
  clearTimeout(timer);
  return reportOf(proc, exit, killed);
}

async function get(url: string, apiKey: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, {
    headers: { authorization: `Bearer ${apiKey}` },
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body };
}

async function runnerIsOnline(baseUrl: string, apiKey: string, runnerId: string): Promise<boolean> {
  const { status, body } = await get(`${baseUrl}/runners`, apiKey);
  if (status !== 200) return false;
  const runner = RunnersPage.parse(body).items.find((r) => r.id === runnerId);
  return runner?.status === 'ONLINE';
}

/** The environment every service of a test starts from: PATH and HOME only. */
function hostEnv(): Record<string, string> {
  return {
    ...(process.env.PATH ? { PATH: process.env.PATH } : {}),
    ...(process.env.HOME ? { HOME: process.env.HOME } : {}),
  };
}

export interface AppRunResult extends ProcessExit {
  stdout: string;
  stderr: string;
  /** The process outlived `timeoutMs` and was killed with SIGKILL. */
  timedOut: boolean;
}

/**
 * Starts one app on its own with exactly `env` (plus PATH and HOME) and `args`,
 * and waits for it to exit; SIGKILL after `timeoutMs`. For start-up checks that
 * need no running stack, such as a refused configuration.
 */
export async function runAppToExit(
  name: AppName,
  options: { env: Readonly<Record<string, string>>; args?: readonly string[]; timeoutMs?: number },
): Promise<AppRunResult> {
  const bundleDir = await prepareApps();
  const proc = launch(name, { ...hostEnv(), ...options.env }, bundleDir, options.args);
  // 'close' comes once the process has exited and its output has been read to the end.
  const closed = new Promise<void>((resolve) => proc.child.once('close', () => resolve()));
  let timedOut = false;
  const timer = setTimeout(() => {
    if (proc.exited) return;
    timedOut = true;
    proc.child.kill('SIGKILL');
  }, options.timeoutMs ?? 20_000);
  const exit = await proc.exit;
  clearTimeout(timer);
  // Bounded: a grandchild holding the pipes open must not hang the test.
  let bound: NodeJS.Timeout | undefined;
  await Promise.race([
    closed,
    new Promise<void>((resolve) => (bound = setTimeout(resolve, 2_000))),
  ]);
  clearTimeout(bound);
  return { ...exit, stdout: proc.stdout.join(''), stderr: proc.stderr.join(''), timedOut };
}

/**
 * Builds the apps, then starts them against a fresh test env and waits until the
 * gateway answers /health with 200 and lists this runner ONLINE. On failure the
 * processes are stopped and the error carries their output.
 */
export async function startServices(options: StartOptions = {}): Promise<RunningServices> {
  const bundleDir = await prepareApps();
  const env = await createTestEnv();
  const { key: apiKey } = await new ApiKeys(env.prisma).issue({
    projectId: DEFAULT_PROJECT.id,
    name: 'e2e',
    role: 'admin',
  });
  const port = await freePort();
  const runnerId = `e2e-runner-${randomBytes(4).toString('hex')}`;
  const workdir = await mkdtemp(join(tmpdir(), 'drover-e2e-'));
  const processEnv: Record<string, string> = {
    ...hostEnv(),
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
    // Control-plane tests run plain commands; the sandbox tests ask for docker.
    RUNNER_SANDBOX: 'process',
    DROVER_ARTIFACTS: `file://${join(workdir, 'artifacts')}`,
    // The tests poll hard; the limit itself is tested against the gateway in-process.
    GATEWAY_RATE_LIMIT: '0',
    ...options.env,
  };
  const envFor = (name: AppName, extra: Readonly<Record<string, string>> = {}) => ({
    ...processEnv,
    ...options.appEnv?.[name],
    ...extra,
  });
  const withRunner = options.runner ?? true;
  const procs = APPS.filter((name) => withRunner || name !== 'agent-runner').map((name) =>
    launch(name, envFor(name), bundleDir),
  );
  const baseUrl = `http://127.0.0.1:${port}`;

  const logs = () =>
    procs
      .map((p) => {
        const id = p.runnerId ? `, ${p.runnerId}` : '';
        return `----- ${p.name} (pid ${p.child.pid ?? '?'}${id}) -----\n${p.output.join('')}`;
      })
      .join('\n');

  let stopped: Promise<ExitReport[]> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      const first = procs.filter((p) => FIRST_TO_STOP.includes(p.name));
      const rest = procs.filter((p) => !FIRST_TO_STOP.includes(p.name));
      const reports = await Promise.all(first.map(terminate));
      reports.push(...(await Promise.all(rest.map(terminate))));
      await env.destroy();
      // A runner killed mid-run leaves its run's filesystem mounted (its restart would reap it).
      await LoopDiskQuota.unmountAll(workdir);
      await rm(workdir, { recursive: true, force: true });
      return reports;
    })();
    return stopped;
  };

  const processOf = (target: AppName | AppHandle): ServiceProcess => {
    const found =
      typeof target === 'string'
        ? procs.filter((p) => p.name === target).at(-1)
        : procs.find((p) => p.child.pid !== undefined && p.child.pid === target.pid);
    if (!found) {
      const what = typeof target === 'string' ? target : `${target.name} ${String(target.pid)}`;
      throw new Error(`no process ${what} was started by this stack`);
    }
    return found;
  };

  const startApp = (name: AppName, extra: Readonly<Record<string, string>> = {}) => {
    if (stopped) throw new Error(`cannot start ${name}: the stack is stopping`);
    const proc = launch(name, envFor(name, extra), bundleDir);
    procs.push(proc);
    return handleOf(proc);
  };

  const startRunner = async (runner: RunnerOptions = {}): Promise<AppHandle> => {
    const id = runner.runnerId ?? `e2e-runner-${randomBytes(4).toString('hex')}`;
    const handle = startApp('agent-runner', { ...runner.env, RUNNER_ID: id });
    try {
      await Promise.race([
        handle.exit.then(({ code, signal }) => {
          throw new Error(`it exited during start-up (${signal ?? code})`);
        }),
        waitFor(
          () => runnerIsOnline(baseUrl, apiKey, id),
          `runner ${id} to be listed ONLINE`,
          READY_TIMEOUT_MS,
          100,
        ),
      ]);
    } catch (error) {
      if (!handle.hasExited()) handle.signal('SIGKILL');
      throw new Error(
        `runner ${id} did not start: ${(error as Error).message}\n${handle.output()}`,
      );
    }
    return handle;
  };

  const stopApp = (target: AppName | AppHandle) => {
    const proc = processOf(target);
    proc.byTest = true;
    return terminate(proc);
  };

  const killApp = async (target: AppName | AppHandle) => {
    const proc = processOf(target);
    proc.byTest = true;
    if (!proc.exited) proc.child.kill('SIGKILL');
    return reportOf(proc, await proc.exit, true);
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
          async () => (await get(`${baseUrl}/health`, apiKey)).status === 200,
          'GET /health to answer 200',
          READY_TIMEOUT_MS,
          100,
        );
        if (!withRunner) return;
        await waitFor(
          () => runnerIsOnline(baseUrl, apiKey, runnerId),
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

  return {
    baseUrl,
    wsUrl: `ws://127.0.0.1:${port}`,
    apiKey,
    env,
    runnerId,
    logs,
    stop,
    app: (name) => handleOf(processOf(name)),
    startApp,
    startRunner,
    stopApp,
    killApp,
  };
}

/**
 * Records whether a test of the file failed, so that `stopAndReport` prints the
 * services' output: wrap each test's body in `logged`.
 */
function failureTracker(): {
  logged: (test: () => Promise<void>) => () => Promise<void>;
  failed: () => boolean;
} {
  let failed = false;
  return {
    logged: (test) => async () => {
      try {
        await test();
      } catch (error) {
        failed = true;
        throw error;
      }
    },
    failed: () => failed,
  };
}

/**
 * Stops the stack and fails unless every service exited cleanly: with code 0 and
 * without needing SIGKILL. Processes the test stopped, killed or signalled itself
 * are checked by that test, not here. The services' output is printed when a test
 * `failed` or an exit was unclean. Returns the unclean exits.
 */
async function stopAndReport(
  running: RunningServices,
  { failed }: { failed: boolean },
): Promise<ExitReport[]> {
  const exits = await running.stop();
  const unclean = exits.filter((e) => !e.byTest && (e.killed || e.code !== 0));
  if (failed || unclean.length) {
    const how = unclean.map((e) => `${e.name}: ${e.killed ? 'SIGKILL' : (e.signal ?? e.code)}`);
    process.stderr.write(
      `\n===== Drover service output (unclean exits: ${how.join(', ') || 'none'}) =====\n` +
        `${running.logs()}\n===== end of service output =====\n`,
    );
  }
  expect(unclean).toEqual([]);
  return unclean;
}

/**
 * Starts the services before the tests of the enclosing `describe` (or file) and
 * stops them after, reporting unclean exits. `logged` wraps a test so that its
 * failure prints the services' output.
 */
export function useServices(options: StartOptions = {}): {
  services: () => RunningServices;
  logged: (test: () => Promise<void>) => () => Promise<void>;
} {
  let running: RunningServices | undefined;
  const { logged, failed } = failureTracker();
  beforeAll(async () => {
    running = await startServices(options);
  }, 180_000);
  afterAll(async () => {
    if (!running) return;
    const stopping = running;
    running = undefined;
    await stopAndReport(stopping, { failed: failed() });
  }, 60_000);
  return {
    services: () => {
      if (!running) throw new Error('Drover is not running (beforeAll failed)');
      return running;
    },
    logged,
  };
}
