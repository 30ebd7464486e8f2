import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * True once `pid` is no longer a live process. A killed process whose parent is
 * gone can linger as a zombie when PID 1 does not reap orphans (common in
 * containers); it is dead, so a zombie counts as gone.
 */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z';
  } catch {
    // No /proc entry: gone, unless this system has no /proc at all.
    return existsSync('/proc/self/stat');
  }
}

/** A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A nats-server with JetStream that belongs to one test file, so it can be
 * stopped, wiped and restarted without disturbing the shared broker.
 */
export interface PrivateNatsServer {
  readonly url: string;
  /** The JetStream store directory (`-sd`). */
  readonly storeDir: string;
  /** Starts the server on its port and store; resolves once it accepts clients. */
  start(): Promise<void>;
  /** Stops the server (SIGTERM, SIGKILL after 10 s) and waits for it to exit. */
  stop(): Promise<void>;
  /** Empties the store, as if the server had lost its disk. Only while stopped. */
  wipe(): Promise<void>;
  /** Stops the server and removes its store. */
  destroy(): Promise<void>;
}

/** Starts a private nats-server on a free port with a fresh temporary store. */
export async function startPrivateNatsServer(
  binary = '/usr/sbin/nats-server',
): Promise<PrivateNatsServer> {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), 'drover-nats-'));
  let child: ChildProcess | null = null;
  // A crashed test run must not leave the server behind.
  const killOnExit = () => child?.kill('SIGKILL');

  const running = () => child !== null && child.exitCode === null && child.signalCode === null;

  const start = () =>
    new Promise<void>((resolve, reject) => {
      if (running()) return reject(new Error('nats-server is already running'));
      const proc = spawn(binary, ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = proc;
      process.once('exit', killOnExit);
      let output = '';
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`nats-server did not become ready in 15 s:\n${output}`));
      }, 15_000);
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Server is ready')) {
          clearTimeout(timer);
          proc.stdout?.removeAllListeners('data');
          proc.stderr?.removeAllListeners('data');
          // Keep draining its output so the server never blocks on a full pipe.
          proc.stdout?.resume();
          proc.stderr?.resume();
          resolve();
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${signal ?? code}) before it was ready:\n${output}`));
      });
    });

  const stop = async () => {
    const proc = child;
    if (!proc || !running()) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    process.removeListener('exit', killOnExit);
  };

  const server: PrivateNatsServer = {
    url: `nats://127.0.0.1:${port}`,
    storeDir,
    start,
    stop,
    async wipe() {
      if (running()) throw new Error('stop nats-server before wiping its store');
      await rm(storeDir, { recursive: true, force: true });
      await mkdir(storeDir);
    },
    async destroy() {
      await stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
  await start();
  return server;
}
