import { spawn } from 'node:child_process';
import { resolve, sep } from 'node:path';
import { createInterface } from 'node:readline';
import type { CommandResult, LineSink, SandboxCommand, SandboxDriver } from './sandbox-driver';

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
    Object.assign(env, command.env, { DROVER_WORKSPACE: root });

    return new Promise((done, fail) => {
      const child = spawn('/bin/sh', ['-c', command.script], {
        cwd,
        env,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let timedOut = false;
      let aborted = false;
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
      const timeout = command.timeoutMs
        ? setTimeout(() => {
            timedOut = true;
            killTree();
          }, command.timeoutMs)
        : undefined;
      const onAbort = () => {
        aborted = true;
        killTree();
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });

      const streams = [
        ['stdout', child.stdout],
        ['stderr', child.stderr],
      ] as const;
      let open = streams.length;
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      const finish = () => {
        if (open > 0 || !exit) return;
        clearTimeout(timeout);
        clearTimeout(killTimer);
        signal.removeEventListener('abort', onAbort);
        done({ exitCode: exit.code, signal: exit.signal, timedOut, aborted });
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
        clearTimeout(timeout);
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
