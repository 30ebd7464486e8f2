import { spawn } from 'node:child_process';

/** Labels every container of one runner process, so that its watchdog removes only those. */
export const INSTANCE_LABEL = 'drover.runner-instance';

/** Where the engine listens, as node:http takes it. */
export type EngineAddress = { socketPath: string } | { host: string; port: number };

/**
 * The watchdog itself, run by a detached `node`: every second it checks that the
 * runner process is alive (and not a zombie its parent has yet to reap); once it
 * is not, it removes the containers labelled with the runner's instance, twice
 * (one being created at that moment shows up in the second listing), and exits.
 */
const SCRIPT = `
const http = require('node:http');
const fs = require('node:fs');
const [pid, address, instance] = process.argv.slice(1);
const target = JSON.parse(address);
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
const timer = setInterval(async () => {
  if (alive()) return;
  clearInterval(timer);
  await sweep();
  await sweep();
  process.exit(0);
}, 1000);
`;

const started = new Set<string>();

/**
 * Starts, once per runner instance, a detached process that removes the
 * instance's containers within about a second of the runner dying without
 * removing them itself (kill -9, a crash, an OOM kill): its commands do not run
 * on unowned while the control plane retries their runs elsewhere. What a
 * watchdog cannot remove (the machine went down with it) the next runner of the
 * same id reaps at start-up.
 */
export function startContainerWatchdog(instance: string, engine: EngineAddress): void {
  if (started.has(instance)) return;
  started.add(instance);
  const watchdog = spawn(
    process.execPath,
    ['-e', SCRIPT, String(process.pid), JSON.stringify(engine), instance],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.on('error', () => started.delete(instance));
  watchdog.unref();
}
