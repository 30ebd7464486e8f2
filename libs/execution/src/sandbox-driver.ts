/** Where, inside the workspace, a run leaves its output (a JSON object) for the steps after it. */
export const OUTPUT_DIR = '.drover';
export const OUTPUT_FILE = `${OUTPUT_DIR}/output.json`;
/** Where a run writes what it asks a person for (an input request), then stops. */
export const REQUEST_FILE = `${OUTPUT_DIR}/request.json`;

/**
 * Variables every driver sets for every command, over the command's own: where
 * the workspace is and where the run's output goes, as the sandbox sees them.
 */
export function driverEnv(
  root: string,
): Record<'DROVER_WORKSPACE' | 'DROVER_OUTPUT' | 'DROVER_REQUEST', string> {
  return {
    DROVER_WORKSPACE: root,
    DROVER_OUTPUT: `${root}/${OUTPUT_FILE}`,
    DROVER_REQUEST: `${root}/${REQUEST_FILE}`,
  };
}

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

/** Resource limits applied to every sandbox container. */
export interface SandboxLimits {
  memoryBytes: number;
  /** CPU in billionths of a CPU: 1_000_000_000 is one CPU. */
  nanoCpus: number;
  /** Most processes and threads alive at once in the container. */
  pids: number;
  /** Size of the tmpfs at /tmp (counts against the memory limit when used). */
  tmpfsBytes: number;
}

/**
 * What a sandbox's commands may reach: nothing but loopback (`none`), the
 * runner's networks (`open`), or only the run's egress proxy, whose socket and
 * forwarder are in `dir` on the runner's host (`proxy`).
 */
export type SandboxNetwork = { mode: 'none' } | { mode: 'open' } | { mode: 'proxy'; dir: string };

/** A run's own sandbox settings (from its task), over the driver's defaults. */
export interface RunSandbox {
  runId: string;
  image?: string;
  network?: SandboxNetwork;
  limits?: Partial<SandboxLimits>;
}

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
  /**
   * The driver for one run's commands, with its task's image, network and limits
   * and its run id on what it creates. Settings a driver cannot honour are named
   * in `ignored` so the run's log can say so.
   */
  forRun(run: RunSandbox): { driver: SandboxDriver; ignored: string[] };
  /**
   * The runner's leases are known to be held until `until` (epoch ms): a driver
   * with a watchdog stops its commands once that passes without a later call.
   */
  holdLeasesUntil?(until: number): void;
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
