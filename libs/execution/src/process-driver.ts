import { spawn } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import {
  driverEnv,
  watchForStop,
  type CommandResult,
  type LineSink,
  type RunSandbox,
  type SandboxCommand,
  type SandboxDriver,
} from './sandbox-driver';

/** Environment passed through to commands; nothing else of the runner's leaks. */
const INHERITED_ENV = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];

/**
 * Runs commands as local child processes. NOT ISOLATED: the command can do
 * anything the runner's user can. For development and trusted work only.
 * Each command gets its own process group so that a timeout or cancel kills
 * the whole tree, not just the shell.
 */
export class ProcessDriver implements SandboxDriver {
  readonly name = 'process';
  readonly isolated = false;

  constructor(private readonly killGraceMs = 2_000) {}

  /** The same driver: a local process has no image, network switch or limits to set. */
  forRun(run: RunSandbox): { driver: ProcessDriver; ignored: string[] } {
    const ignored = (['image', 'network', 'limits'] as const).filter(
      (key) => run[key] !== undefined && !(key === 'network' && run.network?.mode === 'none'),
    );
    return { driver: this, ignored };
  }

  exec(
    workspace: string,
    command: SandboxCommand,
    onLine: LineSink,
    signal: AbortSignal,
  ): Promise<CommandResult> {
    const root = resolve(workspace);
    const cwd = resolve(root, command.cwd ?? '.');
    if (cwd !== root && !cwd.startsWith(root + sep)) {
      return Promise.reject(new Error(`cwd "${command.cwd}" leaves the workspace`));
    }
    const env: Record<string, string> = {};
    for (const key of INHERITED_ENV) {
      const value = process.env[key];
      if (value !== undefined) env[key] = value;
    }
    Object.assign(env, command.env, driverEnv(root));

    return new Promise((done, fail) => {
      // The watchdog is running before the command starts, so recording the
      // group right after spawn is all that stands between the two.
      orphans.start();
      const child = spawn('/bin/sh', ['-c', command.script], {
        cwd,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const group = child.pid;
      if (group !== undefined) orphans.add(group);
      let killTimer: NodeJS.Timeout | undefined;
      const killTree = () => {
        if (child.pid === undefined || child.exitCode !== null) return;
        try {
          process.kill(-child.pid, 'SIGTERM');
        } catch {
          return;
        }
        killTimer = setTimeout(() => {
          try {
            process.kill(-(child.pid as number), 'SIGKILL');
          } catch {
            // already gone
          }
        }, this.killGraceMs);
      };
      const watch = watchForStop(command.timeoutMs, signal, killTree);

      const streams = [
        ['stdout', child.stdout],
        ['stderr', child.stderr],
      ] as const;
      let open = streams.length;
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      const finish = () => {
        if (open > 0 || !exit) return;
        watch.dispose();
        clearTimeout(killTimer);
        if (group !== undefined) orphans.remove(group);
        done({
          exitCode: exit.code,
          signal: exit.signal,
          timedOut: watch.timedOut,
          aborted: watch.aborted,
        });
      };
      for (const [name, stream] of streams) {
        createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) =>
          onLine(name, line),
        );
        // 'close' follows 'end' (readline has flushed the last line) and also comes on destroy.
        stream.on('close', () => {
          open--;
          finish();
        });
      }
      child.on('error', (error) => {
        watch.dispose();
        if (group !== undefined) orphans.remove(group);
        fail(error);
      });
      const pipes: NodeJS.ReadableStream[] = [child.stdout, child.stderr];
      child.on('exit', (code, sig) => {
        exit = { code, signal: sig };
        // A descendant that left the process group (setsid) may hold the pipes
        // open forever; stop reading after the grace period so the step ends.
        setTimeout(() => {
          for (const pipe of pipes) (pipe as NodeJS.ReadableStream & { destroy(): void }).destroy();
        }, this.killGraceMs).unref();
        // Orphans may still hold the pipes open: the process group goes with its leader.
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            // group already empty
          }
        }
        finish();
      });
    });
  }
}

/**
 * One watchdog per runner process for the process groups of its commands: if
 * the runner dies without stopping them (kill -9, a crash), they are killed
 * within about a second instead of running on unowned while the control plane
 * retries their runs elsewhere. The watchdog is a detached shell that outlives
 * the runner; it reads the groups from a file the runner keeps current
 * (replaced atomically, so a runner killed mid-write leaves a whole list).
 */
class OrphanGuard {
  private readonly groups = new Set<number>();
  private file: string | undefined;

  add(group: number): void {
    this.groups.add(group);
    this.write();
  }

  remove(group: number): void {
    if (this.groups.delete(group)) this.write();
  }

  private write(): void {
    const file = this.start();
    writeFileSync(`${file}.next`, [...this.groups].join('\n'));
    renameSync(`${file}.next`, file);
  }

  /** Starts the watchdog once; later calls return its file. */
  start(): string {
    if (this.file) return this.file;
    const dir = mkdtempSync(join(tmpdir(), 'drover-orphans-'));
    const file = join(dir, 'groups');
    writeFileSync(file, '');
    // Alive: the pid answers and, where /proc tells, is not a zombie its parent
    // has yet to reap (a dead runner whose parent is busy).
    const pid = process.pid;
    const watch =
      `alive() { kill -0 ${pid} 2>/dev/null || return 1; ` +
      `s=$(cat /proc/${pid}/stat 2>/dev/null) || return 0; s=\${s##*) }; [ "\${s%% *}" != Z ]; }; ` +
      `while alive; do sleep 1; done; ` +
      `for g in $(cat '${file}'); do kill -KILL -$g 2>/dev/null; done; rm -rf '${dir}'`;
    const guard = spawn('/bin/sh', ['-c', watch], { detached: true, stdio: 'ignore' });
    guard.on('error', () => undefined);
    guard.unref();
    this.file = file;
    return file;
  }
}

const orphans = new OrphanGuard();
