/** One command to run inside a sandbox. */
export interface SandboxCommand {
  /** A shell command line, run by `/bin/sh -c`. */
  script: string;
  /** Working directory, relative to the workspace root. */
  cwd?: string;
  env?: Readonly<Record<string, string>>;
  timeoutMs?: number;
}

export interface CommandResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** Stopped through the abort signal (cancel or shutdown). */
  aborted: boolean;
}

export type LineSink = (stream: 'stdout' | 'stderr', text: string) => void;

/**
 * Where an agent's commands run. Drivers differ in isolation (a local process,
 * a hardened container); the runner and agents only see this interface.
 */
export interface SandboxDriver {
  readonly name: string;
  /** True when the driver isolates untrusted code from the runner's host. */
  readonly isolated: boolean;
  exec(
    workspace: string,
    command: SandboxCommand,
    onLine: LineSink,
    signal: AbortSignal,
  ): Promise<CommandResult>;
}

/** Why a command was stopped, as a driver tells it in its `CommandResult`. */
export interface StopWatch {
  readonly timedOut: boolean;
  readonly aborted: boolean;
  /** Clears the timer and the abort listener; call once the command has ended. */
  dispose(): void;
}

/**
 * Calls `stop` when the command's timeout passes or the run's abort signal
 * fires (at once if it already has), and remembers which: the one place every
 * driver takes both from.
 */
export function watchForStop(
  timeoutMs: number | undefined,
  signal: AbortSignal,
  stop: () => void,
): StopWatch {
  let timedOut = false;
  let aborted = false;
  const timer = timeoutMs
    ? setTimeout(() => {
        timedOut = true;
        stop();
      }, timeoutMs)
    : undefined;
  const onAbort = () => {
    aborted = true;
    stop();
  };
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return {
    get timedOut() {
      return timedOut;
    },
    get aborted() {
      return aborted;
    },
    dispose() {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    },
  };
}
