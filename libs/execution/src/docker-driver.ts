import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join, posix, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { PassThrough, type Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import Docker from 'dockerode';
import {
  driverEnv,
  watchForStop,
  type CommandResult,
  type LineSink,
  type RunSandbox,
  type SandboxCommand,
  type SandboxDriver,
  type SandboxLimits,
  type SandboxNetwork,
} from './sandbox-driver';
import { EGRESS_FORWARDER, EGRESS_MOUNT, EGRESS_SOCKET } from './egress-forwarder';
import {
  containersLapsed,
  holdContainersUntil,
  INSTANCE_LABEL,
  startContainerWatchdog,
  type EngineAddress,
} from './container-watchdog';

export type { SandboxLimits } from './sandbox-driver';

export interface DockerDriverSettings {
  /** Must already be present on the engine: the driver never pulls. */
  image: string;
  /** Labels every container, so that `reap` finds what a killed runner left behind. */
  runnerId: string;
  limits: SandboxLimits;
  /**
   * What commands may reach; default none (no interface but loopback). `open`
   * is the engine's bridged network; `proxy` mounts the run's egress directory
   * and runs the command under its forwarder, with loopback only.
   */
  network?: SandboxNetwork;
  /**
   * `uid:gid` (or name) to run commands as; default: the image's own user. The
   * workspace is bind-mounted as it is on the host, so this user must be able to
   * write it: the runner chowns the workspace to the sandbox uid (or makes it
   * writable for it) before the first command.
   */
  user?: string;
  /** Time between SIGTERM and SIGKILL on timeout or abort; default 2000. */
  killGraceMs?: number;
  /** Extra labels for every container (the run id, say). Cannot replace drover.* ones. */
  labels?: Readonly<Record<string, string>>;
  /**
   * Start a watchdog that removes this runner's containers should the runner
   * die without removing them, or hold them past its leases (see
   * startContainerWatchdog and holdLeasesUntil); default false.
   */
  watchdog?: boolean;
  /** This runner process's id on its containers; one is made up when left out. */
  instance?: string;
}

/** An engine client, or where the engine listens (see `dockerClient`). */
export type DockerDriverOptions = DockerDriverSettings &
  ({ docker: Docker } | { dockerHost: string });

/** Container paths: the workspace is mounted here whatever its host path. */
const WORKSPACE = '/workspace';
const RUNNER_LABEL = 'drover.runner';
const MANAGED_LABEL = 'drover.managed';
const RUN_LABEL = 'drover.run';

/** Linux signal numbers: the container's kernel is Linux whatever the runner's OS is. */
const SIGNALS = [
  'SIGHUP',
  'SIGINT',
  'SIGQUIT',
  'SIGILL',
  'SIGTRAP',
  'SIGABRT',
  'SIGBUS',
  'SIGFPE',
  'SIGKILL',
  'SIGUSR1',
  'SIGSEGV',
  'SIGUSR2',
  'SIGPIPE',
  'SIGALRM',
  'SIGTERM',
  'SIGSTKFLT',
  'SIGCHLD',
  'SIGCONT',
  'SIGSTOP',
  'SIGTSTP',
  'SIGTTIN',
  'SIGTTOU',
  'SIGURG',
  'SIGXCPU',
  'SIGXFSZ',
  'SIGVTALRM',
  'SIGPROF',
  'SIGWINCH',
  'SIGIO',
  'SIGPWR',
  'SIGSYS',
];

/**
 * PID 1 of every container, a POSIX shell given the script as `$1`. The kernel
 * drops signals to a namespace's PID 1 that it has no handler for, so a bare
 * `sh -c` there would ignore SIGTERM and every stop would wait for SIGKILL. This
 * one runs the script in a child `sh -c`, passes SIGTERM on to every process in
 * the container (`kill -1`, as ProcessDriver signals the process group) and
 * exits with the child's status: 128+n when signal n killed it. The trap cuts
 * `wait` short, hence the loop. (The child is a background job, so it starts
 * with SIGINT and SIGQUIT ignored, as POSIX has it; nothing here sends those.)
 * When PID 1 exits, the kernel kills whatever the script left running.
 */
const SHIM = [
  "trap 'kill -TERM -1 2>/dev/null' TERM",
  '"$0" -c "$1" & c=$!',
  'while :; do wait $c 2>/dev/null; s=$?; kill -0 $c 2>/dev/null || exit $s; done',
].join('\n');

/**
 * PID 1 of a container whose egress goes through the run's proxy: the image's
 * `node` runs the forwarder (see FORWARDER_SOURCE), which runs SHIM (`$1`) on
 * the script (`$2`) once it listens. Without node, it prints the marker (`$3`)
 * for the driver to tell. The forwarder runs without the task's NODE_OPTIONS;
 * the command gets them back.
 */
const EGRESS_SHIM = [
  'if ! command -v node >/dev/null 2>&1; then echo "$3" >&2; exit 127; fi',
  'o=${NODE_OPTIONS-}',
  `NODE_OPTIONS= exec node ${EGRESS_MOUNT}/${EGRESS_FORWARDER} ${EGRESS_MOUNT}/${EGRESS_SOCKET} "$o" /bin/sh -c "$1" /bin/sh "$2"`,
].join('\n');

/** The part of docker-modem the driver uses (dockerode types the modem as `any`). */
interface Demuxer {
  demuxStream(
    stream: NodeJS.ReadableStream,
    stdout: NodeJS.WritableStream,
    stderr: NodeJS.WritableStream,
  ): void;
}

/**
 * A client for the engine at `host`: `unix:///run/podman/podman.sock`, a bare
 * socket path, or `tcp://host:2375` / `http(s)://host:port`. TLS client
 * certificates are not handled: pass a configured `Docker` instead.
 */
export function dockerClient(host: string): Docker {
  // Explicit fields: docker-modem merges DOCKER_HOST and DOCKER_CLIENT_TIMEOUT from the
  // environment into what it is given, and an idle timeout would cut quiet commands' output.
  if (host.startsWith('unix://') || host.startsWith('/')) {
    const socketPath = host.replace(/^unix:\/\//, '');
    if (!socketPath) throw new Error(`no socket path in docker host "${host}"`);
    return new Docker({ socketPath, host: undefined, timeout: 0 });
  }
  const url = new URL(host);
  const protocol = url.protocol === 'https:' ? 'https' : 'http';
  if (!['tcp:', 'http:', 'https:'].includes(url.protocol)) {
    throw new Error(`unsupported docker host "${host}": use unix://, tcp://, http:// or https://`);
  }
  const port = url.port || (protocol === 'https' ? '2376' : '2375');
  return new Docker({ host: url.hostname, port, protocol, timeout: 0 });
}

/**
 * Where to find an engine when DOCKER_HOST is not set: Docker's socket, else
 * Podman's (rootful) Docker-compatible API socket.
 */
export function defaultDockerHost(): string {
  const sockets = ['/var/run/docker.sock', '/run/podman/podman.sock'];
  return `unix://${sockets.find((path) => existsSync(path)) ?? sockets[0]}`;
}

/** The image a container was to run is not on the engine (the driver never pulls). */
export class ImageMissingError extends Error {
  constructor(
    readonly image: string,
    cause?: unknown,
  ) {
    super(`image ${image} is not on the engine (the driver never pulls)`, { cause });
    this.name = 'ImageMissingError';
  }
}

/** A run's egress goes through its proxy, and the image has no `node` to run the forwarder with. */
export class EgressUnavailableError extends Error {
  constructor(readonly image: string) {
    super(
      `image ${image} has no node on its PATH, which the egress forwarder needs: ` +
        'use an image with Node.js, or network "none" or "open"',
    );
    this.name = 'EgressUnavailableError';
  }
}

/**
 * A command's container ended, or vanished, after the runner's leases lapsed:
 * its watchdog removes the containers then, as the control plane may already
 * have retried the run elsewhere. The run ends as after a lost lease, whatever
 * the command's own exit was.
 */
export class LeaseLapsedError extends Error {
  constructor(cause?: unknown) {
    super("the runner's leases lapsed: its watchdog removed the command's container", { cause });
    this.name = 'LeaseLapsedError';
  }
}

/** The HTTP status of a failed engine call, when it has one. */
function statusOf(error: unknown): number | undefined {
  const status = (error as { statusCode?: unknown } | null)?.statusCode;
  return typeof status === 'number' ? status : undefined;
}

/** ProcessDriver's shape of a result, from the exit status the engine reports. */
function resultOf(status: number | null, timedOut: boolean, aborted: boolean): CommandResult {
  // The engine reports 128+n both for a command killed by signal n and for `exit 128+n`;
  // the first is the likely one, so it is reported as ProcessDriver reports a signal.
  const signal = status !== null && status > 128 ? SIGNALS[status - 129] : undefined;
  return signal
    ? { exitCode: null, signal, timedOut, aborted }
    : { exitCode: status, signal: null, timedOut, aborted };
}

/** Resolves when `stream` has delivered its last line (a partial one included). */
function readLines(stream: NodeJS.ReadableStream, onLine: (text: string) => void): Promise<void> {
  return new Promise((done) => {
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', onLine).on('close', done);
  });
}

/**
 * Runs each command in a new, hardened container (no capabilities, read-only
 * root, no network, resource limits, only the workspace mounted), removed when
 * the command ends. Results and output follow ProcessDriver: stdout and stderr
 * as separate line streams, the exit code, or the signal when the status is
 * 128+n (the engine cannot tell those apart: see `resultOf`). Podman also mounts
 * writable tmpfs at /run and /var/tmp despite the read-only root; what is written
 * there, like /tmp and /dev/shm, counts against the memory limit.
 */
export class DockerDriver implements SandboxDriver {
  readonly name = 'docker';
  readonly isolated = true;
  private readonly docker: Docker;
  private readonly settings: DockerDriverSettings;
  private readonly killGraceMs: number;

  constructor(options: DockerDriverOptions) {
    const { image, runnerId, limits, network, user, killGraceMs, labels, watchdog } = options;
    if (!runnerId) throw new Error('DockerDriver needs a runnerId');
    this.docker = 'docker' in options ? options.docker : dockerClient(options.dockerHost);
    const instance = options.instance ?? randomUUID();
    this.settings = {
      image,
      runnerId,
      limits,
      network,
      user,
      killGraceMs,
      labels,
      watchdog,
      instance,
    };
    this.killGraceMs = killGraceMs ?? 2_000;
  }

  /** The same driver and engine, with `labels` added to its containers (one per run, say). */
  withLabels(labels: Readonly<Record<string, string>>): DockerDriver {
    return new DockerDriver({
      ...this.settings,
      docker: this.docker,
      labels: { ...this.settings.labels, ...labels },
    });
  }

  forRun(run: RunSandbox): { driver: DockerDriver; ignored: string[] } {
    const driver = new DockerDriver({
      ...this.settings,
      docker: this.docker,
      image: run.image ?? this.settings.image,
      network: run.network ?? this.settings.network,
      limits: { ...this.settings.limits, ...run.limits },
      labels: { ...this.settings.labels, [RUN_LABEL]: run.runId },
    });
    return { driver, ignored: [] };
  }

  /**
   * Removes every container labelled with `runnerId`, running or not: what an
   * earlier runner of that id, killed mid-command, left behind. Call it at startup.
   */
  static async reap(docker: Docker, runnerId: string): Promise<number> {
    const found = await docker.listContainers({
      all: true,
      filters: { label: [`${RUNNER_LABEL}=${runnerId}`, `${MANAGED_LABEL}=true`] },
    });
    const removed = await Promise.all(
      found.map(async ({ Id }) => {
        try {
          await docker.getContainer(Id).remove({ force: true, v: true });
          return true;
        } catch (error) {
          if (statusOf(error) === 404) return false;
          throw error;
        }
      }),
    );
    return removed.filter(Boolean).length;
  }

  /**
   * With the watchdog: past `until` without a later call, the watchdog removes
   * this runner's containers (within about a second), even while the runner
   * itself is frozen.
   */
  holdLeasesUntil(until: number): void {
    if (this.settings.watchdog) holdContainersUntil(this.settings.instance as string, until);
  }

  /** With the watchdog: true once the leases' deadline has passed (see holdLeasesUntil). */
  private lapsed(): boolean {
    return !!this.settings.watchdog && containersLapsed(this.settings.instance as string);
  }

  /** True when the engine answers a ping within about two seconds. */
  static async available(docker: Docker): Promise<boolean> {
    // dockerode's types omit ping's options, which the call does honour.
    const pinger = docker as unknown as { ping(o: { abortSignal: AbortSignal }): Promise<unknown> };
    try {
      await pinger.ping({ abortSignal: AbortSignal.timeout(2_000) });
      return true;
    } catch {
      return false;
    }
  }

  async exec(
    workspace: string,
    command: SandboxCommand,
    onLine: LineSink,
    signal: AbortSignal,
  ): Promise<CommandResult> {
    const root = resolve(workspace);
    const cwd = posix.resolve(WORKSPACE, command.cwd ?? '.');
    if (cwd !== WORKSPACE && !cwd.startsWith(`${WORKSPACE}/`)) {
      throw new Error(`cwd "${command.cwd}" leaves the workspace`);
    }
    // Checked on the host: the engine would create a missing working directory, as root.
    const hostCwd = join(root, posix.relative(WORKSPACE, cwd));
    if (!(await stat(hostCwd)).isDirectory()) {
      throw new Error(`cwd "${command.cwd}" is not a directory`);
    }
    // DROVER_WORKSPACE and DROVER_OUTPUT are the driver's to set, as with ProcessDriver.
    const own = driverEnv(WORKSPACE);
    const env = [
      ...Object.entries(command.env ?? {}).filter(([name]) => !Object.hasOwn(own, name)),
      ...Object.entries(own),
    ];
    const badName = env.find(([name]) => !name || /[=\0]/.test(name));
    if (badName) throw new Error(`invalid environment variable name "${badName[0]}"`);

    // Nothing has started, so nothing needs stopping.
    if (signal.aborted) return resultOf(null, false, true);
    const noNode = `drover-egress: no node (${randomUUID()})`;
    let nodeMissing = false;
    const lineSink: LineSink = (stream, text) => {
      if (stream === 'stderr' && text === noNode) nodeMissing = true;
      else onLine(stream, text);
    };
    if (this.settings.watchdog) this.startWatchdog();

    let running = false;
    let stopping = false;
    let killTimer: NodeJS.Timeout | undefined;
    let container: Docker.Container | undefined;
    let stream: Readable | undefined;
    let failed = false;
    const kill = (sig: 'SIGTERM' | 'SIGKILL') =>
      // Fails when the container has just exited (409 on Docker, 500 on Podman): fine.
      container?.kill({ signal: sig }).catch(() => undefined);
    const stop = () => {
      if (!running || stopping) return;
      stopping = true;
      void kill('SIGTERM');
      killTimer = setTimeout(() => void kill('SIGKILL'), this.killGraceMs);
    };
    // From the call, not from the start: a slow engine counts against the command.
    const watch = watchForStop(command.timeoutMs, signal, stop);
    const stopped = () => watch.timedOut || watch.aborted;

    try {
      container = await this.create(this.spec(command.script, root, cwd, env, noNode));
      if (stopped()) return resultOf(null, watch.timedOut, watch.aborted);

      // Attached before the start so that no early output is missed.
      // An HTTP response (or socket) at run time, whatever the types say.
      const output = (await container.attach({
        stream: true,
        stdout: true,
        stderr: true,
      })) as unknown as Readable;
      stream = output;
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      (this.docker.modem as Demuxer).demuxStream(output, stdout, stderr);
      const ended = new Promise<void>((done) => {
        const end = () => {
          stdout.end();
          stderr.end();
          done();
        };
        output.on('end', end).on('close', end).on('error', end);
      });
      const lines = Promise.all([
        readLines(stdout, (text) => lineSink('stdout', text)),
        readLines(stderr, (text) => lineSink('stderr', text)),
      ]);
      if (stopped()) return resultOf(null, watch.timedOut, watch.aborted);

      await container.start();
      running = true;
      if (stopped()) stop();
      const status = await this.exitOf(container, ended);
      if (this.lapsed()) throw new LeaseLapsedError();
      running = false;
      clearTimeout(killTimer);
      // The output ends with PID 1; should it not, stop reading after the grace period.
      await Promise.race([ended, delay(this.killGraceMs, undefined, { ref: false })]);
      output.destroy();
      await lines;
      if (nodeMissing && status === 127) throw new EgressUnavailableError(this.settings.image);
      return resultOf(status, watch.timedOut, watch.aborted);
    } catch (error) {
      failed = true;
      // Whatever failed (the container is gone, most likely), the lapse is the cause.
      if (this.lapsed() && !(error instanceof LeaseLapsedError)) throw new LeaseLapsedError(error);
      throw error;
    } finally {
      running = false;
      watch.dispose();
      clearTimeout(killTimer);
      stream?.destroy();
      // Never left behind; should removal fail too, the first error is the one to report.
      if (container) {
        await this.remove(container).catch((error: unknown) => {
          if (!failed) throw error;
        });
      }
    }
  }

  /** Where the engine listens, from the client's own settings (no watchdog over TLS). */
  private startWatchdog(): void {
    const modem = this.docker.modem as {
      socketPath?: string;
      host?: string;
      port?: string | number;
      protocol?: string;
    };
    const engine: EngineAddress | undefined = modem.socketPath
      ? { socketPath: modem.socketPath }
      : modem.host && modem.protocol !== 'https'
        ? { host: modem.host, port: Number(modem.port ?? 2375) }
        : undefined;
    if (engine) startContainerWatchdog(this.settings.instance as string, engine);
  }

  private spec(
    script: string,
    root: string,
    cwd: string,
    env: [string, string][],
    noNode: string,
  ): Docker.ContainerCreateOptions {
    const { image, runnerId, limits, user, labels, instance } = this.settings;
    const network = this.settings.network ?? { mode: 'none' };
    const mounts: Docker.MountSettings[] = [
      { Type: 'bind', Source: root, Target: WORKSPACE, ReadOnly: false },
    ];
    if (network.mode === 'proxy') {
      // Read-only: connecting to a socket needs no write access to its filesystem.
      mounts.push({ Type: 'bind', Source: network.dir, Target: EGRESS_MOUNT, ReadOnly: true });
    }
    return {
      Image: image,
      Cmd:
        network.mode === 'proxy'
          ? ['/bin/sh', '-c', EGRESS_SHIM, '/bin/sh', SHIM, script, noNode]
          : ['/bin/sh', '-c', SHIM, '/bin/sh', script],
      User: user,
      WorkingDir: cwd,
      // Only the command's own variables (the engine adds the image's, PATH and HOME).
      Env: env.map(([name, value]) => `${name}=${value}`),
      Tty: false,
      AttachStdin: false,
      AttachStdout: true,
      AttachStderr: true,
      Labels: {
        ...labels,
        [RUNNER_LABEL]: runnerId,
        [INSTANCE_LABEL]: instance as string,
        [MANAGED_LABEL]: 'true',
      },
      HostConfig: {
        Mounts: mounts,
        CapDrop: ['ALL'],
        SecurityOpt: ['no-new-privileges'],
        ReadonlyRootfs: true,
        // Explicit options, since the engines' defaults differ (Docker: noexec; Podman:
        // the image's /tmp mode); build tools run binaries they write to /tmp.
        Tmpfs: { '/tmp': `rw,nosuid,nodev,exec,mode=1777,size=${limits.tmpfsBytes}` },
        Memory: limits.memoryBytes,
        // Equal to Memory: no swap on top (Docker would otherwise allow as much again).
        MemorySwap: limits.memoryBytes,
        NanoCpus: limits.nanoCpus,
        PidsLimit: limits.pids,
        // A proxied container has loopback only: its one way out is the mounted socket.
        NetworkMode: network.mode === 'open' ? 'bridge' : 'none',
        AutoRemove: false,
        // Output goes to the attached stream only: no log file of untrusted size on the host.
        LogConfig: { Type: 'none', Config: {} },
      },
    };
  }

  private async create(spec: Docker.ContainerCreateOptions): Promise<Docker.Container> {
    try {
      return await this.docker.createContainer(spec);
    } catch (error) {
      if (statusOf(error) !== 404) throw error;
      throw new ImageMissingError(spec.Image as string, error);
    }
  }

  /**
   * The container's exit status. `wait` alone would do, but Podman answers it on a
   * 250 ms poll; the end of the output means PID 1 is (nearly) gone, so from then
   * on `inspect` is asked too, whichever answers first.
   */
  private async exitOf(container: Docker.Container, ended: Promise<void>): Promise<number> {
    const settled = new AbortController();
    const waited = async () => {
      const result = (await container.wait({ abortSignal: settled.signal })) as {
        StatusCode: number;
      };
      return result.StatusCode;
    };
    const polled = async () => {
      await ended;
      for (let pause = 10; ; pause = Math.min(pause * 2, 500)) {
        const { State } = await container.inspect({ abortSignal: settled.signal });
        if (State.Status === 'exited' || State.Status === 'dead') return State.ExitCode;
        await delay(pause, undefined, { signal: settled.signal });
      }
    };
    try {
      return await Promise.race([waited(), polled()]);
    } finally {
      settled.abort();
    }
  }

  /** Removes the container, retrying a sick engine a little; gone already is fine. */
  private async remove(container: Docker.Container): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await container.remove({ force: true, v: true });
        return;
      } catch (error) {
        if (statusOf(error) === 404) return;
        if (attempt === 3) throw error;
        await delay(250 * attempt);
      }
    }
  }
}
