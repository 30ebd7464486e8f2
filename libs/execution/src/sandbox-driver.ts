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
