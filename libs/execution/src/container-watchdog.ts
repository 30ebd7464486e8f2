import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';

/** Labels every container of one runner process, so that its watchdog removes only those. */
export const INSTANCE_LABEL = 'drover.runner-instance';

/** Where the engine listens, as node:http takes it. */
export type EngineAddress = { socketPath: string } | { host: string; port: number };

/** How often the watchdog looks at the runner and the lease deadline. */
const WATCHDOG_TICK_MS = 250;

/**
 * The watchdog itself, run by a detached `node`. Its stdin is a pipe from the
 * runner carrying lines of "leases held until <epoch ms>". It removes the
 * instance's containers:
 * - once the runner is gone (stdin closes, or the pid is dead or a zombie): twice
 *   (one being created at that moment shows up in the second listing), then exits;
 * - while the last deadline it was given has passed (the runner is frozen, or
 *   cannot renew its leases): at most once a second, and it keeps watching, as
 *   the runner may renew them again. Before the first deadline only the pid counts.
 */
const SCRIPT = `
const http = require('node:http');
const fs = require('node:fs');
const [pid, address, instance, tick] = process.argv.slice(1);
const target = JSON.parse(address);
let until = null;
let closed = false;
let lastSweep = 0;
let buffered = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  const lines = buffered.split('\\n');
  buffered = lines.pop();
  for (const line of lines) {
    const at = Number(line);
    if (line && Number.isFinite(at)) until = at;
  }
});
process.stdin.on('end', () => (closed = true));
process.stdin.on('error', () => (closed = true));
function alive() {
  try { process.kill(Number(pid), 0); } catch { return false; }
  try {
    const stat = fs.readFileSync('/proc/' + pid + '/stat', 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch { return true; }
}
function call(method, path) {
  return new Promise((resolve) => {
    const req = http.request({ ...target, method, path, timeout: 10000 }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', () => resolve(null));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}
async function sweep() {
  const filters = encodeURIComponent(JSON.stringify({ label: ['${INSTANCE_LABEL}=' + instance] }));
  const listed = await call('GET', '/containers/json?all=1&filters=' + filters);
  if (!listed || listed.status !== 200) return;
  for (const c of JSON.parse(listed.body)) await call('DELETE', '/containers/' + c.Id + '?force=1&v=1');
}
let busy = false;
setInterval(async () => {
  if (busy) return;
  busy = true;
  try {
    if (closed || !alive()) {
      await sweep();
      await sweep();
      process.exit(0);
    }
    const now = Date.now();
    if (until !== null && now > until && now - lastSweep >= 1000) {
      lastSweep = now;
      await sweep();
    }
  } finally {
    busy = false;
  }
}, Number(tick));
`;

interface Watchdog {
  child?: ChildProcess;
  /** The latest "leases held until" (epoch ms) the runner knows of. */
  until?: number;
}

const watchdogs = new Map<string, Watchdog>();

function entry(instance: string): Watchdog {
  let found = watchdogs.get(instance);
  if (!found) {
    found = {};
    watchdogs.set(instance, found);
  }
  return found;
}

function send(watchdog: Watchdog): void {
  if (watchdog.until === undefined) return;
  watchdog.child?.stdin?.write(`${watchdog.until}\n`);
}

/**
 * Starts, once per runner instance, a detached process that removes the
 * instance's containers within about a second of the runner dying without
 * removing them itself (kill -9, a crash, an OOM kill), and within about a second
 * of the deadline given to `holdContainersUntil` passing while the runner lives
 * (frozen by SIGSTOP, or cut off from the control plane): their commands do not
 * run on unowned while the control plane retries their runs elsewhere. What a
 * watchdog cannot remove (the machine went down with it) the next runner of the
 * same id reaps at start-up.
 */
export function startContainerWatchdog(instance: string, engine: EngineAddress): void {
  const watchdog = entry(instance);
  if (watchdog.child) return;
  const child = spawn(
    process.execPath,
    ['-e', SCRIPT, String(process.pid), JSON.stringify(engine), instance, String(WATCHDOG_TICK_MS)],
    // The pipe's end closing is how the watchdog learns the runner is gone at once.
    { detached: true, stdio: ['pipe', 'ignore', 'ignore'] },
  );
  watchdog.child = child;
  // A watchdog that died (or never started) is started again by the next command.
  const forget = () => {
    if (watchdog.child === child) watchdog.child = undefined;
  };
  child.on('error', forget).on('exit', forget);
  child.stdin?.on('error', forget);
  // At run time a socket: neither it nor the child may keep the runner alive.
  (child.stdin as unknown as Socket | null)?.unref();
  child.unref();
  send(watchdog);
}

/**
 * Tells the instance's watchdog that the runner's leases are held until `until`
 * (epoch ms): past it, the control plane may retry their runs elsewhere, so the
 * watchdog removes the instance's containers. Call it each time the leases are
 * known to be renewed; a later call never moves the deadline back.
 */
export function holdContainersUntil(instance: string, until: number): void {
  const watchdog = entry(instance);
  if (watchdog.until !== undefined && watchdog.until >= until) return;
  watchdog.until = until;
  send(watchdog);
}

/** True once the deadline last given to `holdContainersUntil` has passed. */
export function containersLapsed(instance: string, now = Date.now()): boolean {
  const until = watchdogs.get(instance)?.until;
  return until !== undefined && now > until;
}
