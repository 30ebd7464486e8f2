import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import {
  AGENT_IMAGE_REPO,
  providerEndpointsOf,
  providerKeysInEnv,
  RunnerConfig,
} from '@drover/config';
import {
  HeartbeatReply,
  RegistryReply,
  RunDispatched,
  RunStopRequested,
  runnerConsumer,
  StartRunReply,
  Subjects,
  workSubject,
  type RunnerHeartbeat,
  type RunStarted,
} from '@drover/contracts';
import {
  defaultDockerHost,
  DockerDriver,
  dockerClient,
  ProcessDriver,
  RELEASE,
  RunExecutor,
  type AbortReason,
  type SandboxDriver,
} from '@drover/execution';
import { artifactStoreFrom } from '@drover/storage';
import { ConsumerOverlapError, NatsBus } from '@drover/messaging';
import { ServiceMetrics } from '@drover/service-kit';
import { EngineImages } from './engine-images';
import { NatsRunReporter } from './nats-run-reporter';
import { RunnerRegistration } from './runner-registration';
import { ceilingsOf, diskQuotaOf } from './run-limits';
import { runnerMetrics } from './runner-metrics';

interface ActiveRun {
  work: RunDispatched;
  controller: AbortController;
  done: Promise<unknown>;
}

/** How long the runner waits for the orchestrator to grant a start, per try. */
const START_TIMEOUT_MS = 5_000;
const START_TRIES = 3;

/** The one unfiltered work consumer every runner shared before runner pools. */
const LEGACY_RUNNERS_CONSUMER = 'runners';

/**
 * One runner: registers its slots, pulls only as much work as it has free
 * slots, asks the orchestrator for each run before executing it (only the
 * current lease holder is granted it), heartbeats to renew its leases, and stops
 * a run at once when the control plane says so (cancel, timeout, lease lost) or
 * when the task's timeout passes. On shutdown it stops pulling, lets running work
 * finish within the grace period, then releases the rest and deregisters.
 *
 * Its pool is the shared one, or with RUNNER_PROJECT that project's own: it takes
 * work only from its pool's consumer, and its pool is the project id the registry
 * confirmed.
 */
@Injectable()
export class RunnerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RunnerService.name);
  private readonly active = new Map<string, ActiveRun>();
  private executor: RunExecutor | undefined;
  private driver: SandboxDriver | undefined;
  /** Until when the control plane is known to hold this runner's leases (epoch ms). */
  private leasesUntil: number | undefined;
  private readonly reporter: NatsRunReporter;
  private stopping = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly registration: RunnerRegistration;
  private pulling: Promise<void> | undefined;
  /** The project whose own pool this runner serves; null: the shared pool. */
  private pool: string | null = null;
  /** The engine's images, told to the registry (none with the process driver: it runs any). */
  private images: EngineImages | undefined;

  constructor(
    private readonly bus: NatsBus,
    private readonly config: RunnerConfig,
    metrics: ServiceMetrics,
  ) {
    runnerMetrics(metrics, {
      slots: config.RUNNER_SLOTS,
      runs: () => [...this.active.values()].map(({ work }) => work),
    });
    this.reporter = new NatsRunReporter(bus, config.RUNNER_ID, () => this.stopping);
    this.registration = new RunnerRegistration(
      bus,
      config,
      () => this.stopping,
      async () => this.images?.list(),
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    const config = this.config;
    const workdir = config.RUNNER_WORKDIR ?? join(tmpdir(), 'drover-runs', config.RUNNER_ID);
    this.driver = await this.sandbox();
    this.executor = new RunExecutor({
      workdir,
      driver: this.driver,
      ceilings: ceilingsOf(config),
      disk: await diskQuotaOf(config, workdir),
      reporter: this.reporter,
      artifacts: artifactStoreFrom(config),
      sources: {
        allowLocal: config.RUNNER_ALLOW_LOCAL_REPOS,
        allowPrivateHosts: config.RUNNER_ALLOW_PRIVATE_HOSTS,
      },
      providerEnv: providerKeysInEnv(),
      providerEndpoints: providerEndpointsOf(config),
      gitTimeoutMs: config.RUNNER_GIT_TIMEOUT_MS,
      logFlushMs: config.RUNNER_LOG_FLUSH_MS,
      keepWorkspaces: config.RUNNER_KEEP_WORKSPACES,
      secretsKey: config.DROVER_SECRETS_KEY,
    });
    this.bus.subscribe(Subjects.runStopRequested, RunStopRequested, (stop) => {
      this.stop(stop.runId, stop.reason);
      return Promise.resolve();
    });
    this.pool = await this.registration.register();
    await this.ensureWorkConsumer();
    // Before any work: the container watchdog needs the leases' deadline from the start.
    await this.beat();
    this.heartbeat = setInterval(() => void this.beat(), this.config.RUNNER_HEARTBEAT_MS);
    this.pulling = Promise.all(
      Array.from({ length: this.config.RUNNER_SLOTS }, () => this.slotLoop()),
    ).then(() => undefined);
  }

  /**
   * The sandbox driver: `docker` when an engine answers (after removing the
   * containers an earlier runner of this id left behind), `process` only when
   * chosen explicitly; with neither, the runner refuses to start.
   */
  private async sandbox(): Promise<SandboxDriver> {
    const config = this.config;
    if (config.RUNNER_SANDBOX === 'process') {
      this.logger.warn('sandbox driver "process": runs are NOT isolated from this host');
      return new ProcessDriver();
    }
    const host = config.DOCKER_HOST ?? defaultDockerHost();
    const docker = dockerClient(host);
    if (!(await DockerDriver.available(docker))) {
      throw new Error(
        `no container engine answers at ${host}: start Docker or Podman's API service, or point ` +
          'DOCKER_HOST at one; RUNNER_SANDBOX=process runs work unisolated (development only)',
      );
    }
    const image = await docker
      .getImage(config.RUNNER_IMAGE)
      .inspect()
      .catch(() => undefined);
    if (!image) {
      throw new Error(missingImageMessage(config.RUNNER_IMAGE, host));
    }
    this.images = new EngineImages(docker);
    const reaped = await DockerDriver.reap(docker, config.RUNNER_ID);
    if (reaped) this.logger.warn(`removed ${reaped} containers an earlier runner left behind`);
    this.logger.log(`sandbox driver "docker" at ${host}, image ${config.RUNNER_IMAGE}`);
    return new DockerDriver({
      docker,
      image: config.RUNNER_IMAGE,
      runnerId: config.RUNNER_ID,
      user: config.RUNNER_USER || undefined,
      watchdog: config.RUNNER_CONTAINER_WATCHDOG,
      limits: {
        memoryBytes: config.RUNNER_MEMORY_MB * 1024 * 1024,
        nanoCpus: Math.round(config.RUNNER_CPUS * 1e9),
        pids: config.RUNNER_PIDS,
        tmpfsBytes: config.RUNNER_TMPFS_MB * 1024 * 1024,
      },
    });
  }

  /**
   * Creates the durable consumer of this runner's pool, filtered on the pool's
   * work subject, if it is missing.
   */
  private async ensureWorkConsumer(): Promise<void> {
    const durable = runnerConsumer(this.pool);
    const ensure = () =>
      this.bus.ensureConsumer('work', durable, {
        filter_subject: this.bus.subject(workSubject(this.pool)),
      });
    try {
      await ensure();
    } catch (error) {
      if (!(error instanceof ConsumerOverlapError)) throw error;
      // Before runner pools, every runner pulled from one unfiltered consumer,
      // `runners`: retired here (its pending work stays in the stream for the pools).
      if (await this.bus.removeUnfilteredConsumer('work', LEGACY_RUNNERS_CONSUMER)) {
        this.logger.warn(
          `removed the unfiltered work consumer "${LEGACY_RUNNERS_CONSUMER}" of runners from before runner pools`,
        );
        await ensure();
        return;
      }
      throw new Error(
        `${error.message}; find it with: nats consumer ls ${this.bus.streamName('work')}`,
      );
    }
  }

  /**
   * Heartbeat: renews the leases of the runs held, running or finished with the
   * report not yet recorded; stops the running ones the control plane revoked.
   */
  private async beat(): Promise<void> {
    this.dropLapsedRuns();
    const sentAt = Date.now();
    const images = this.images?.whenChanged();
    const beat: RunnerHeartbeat = {
      runnerId: this.config.RUNNER_ID,
      freeSlots: this.config.RUNNER_SLOTS - this.active.size,
      activeRuns: [
        ...[...this.active.values()].map(({ work }) => ({
          runId: work.runId,
          leaseToken: work.leaseToken,
        })),
        ...this.reporter.pending(),
      ],
      sentAt: new Date().toISOString(),
      ...(images ? { images } : {}),
    };
    // A report still unconfirmed after a few beats may have been lost with the broker's store.
    this.reporter.resend(3 * this.config.RUNNER_HEARTBEAT_MS);
    try {
      const reply = await this.bus.request(
        Subjects.runnerHeartbeat,
        beat,
        HeartbeatReply,
        Math.max(1000, this.config.RUNNER_HEARTBEAT_MS),
      );
      for (const runId of reply.revoked) {
        if (!this.reporter.confirm(runId)) this.stop(runId, 'LEASE_LOST');
      }
      if (reply.leaseMs !== undefined) this.holdLeasesUntil(sentAt + reply.leaseMs);
      if (!reply.registered && !this.stopping) {
        this.logger.warn('the registry does not know this runner as online; registering again');
        // Its pool (and so its consumer) stays the one it started with.
        await this.registration.register();
      }
    } catch (error) {
      // A lost heartbeat is what leases are for; the next one may get through.
      this.logger.warn(`heartbeat failed: ${(error as Error).message}`);
    }
  }

  /**
   * Renewed at the latest when the heartbeat was sent, the leases last at least
   * until `until`; the driver's watchdog stops the containers past it.
   */
  private holdLeasesUntil(until: number): void {
    if (this.leasesUntil !== undefined && this.leasesUntil >= until) return;
    this.leasesUntil = until;
    this.driver?.holdLeasesUntil?.(until);
  }

  /**
   * Runs whose leases ran out unrenewed (the runner was frozen, or its heartbeats
   * failed) belong to the control plane again, and the watchdog has removed their
   * containers: they end as after a lost lease.
   */
  private dropLapsedRuns(): void {
    if (!this.lapsed()) return;
    for (const runId of this.active.keys()) this.stop(runId, 'LEASE_LOST');
  }

  /** True once the last known renewal's leases ran out: nothing this runner runs is safe. */
  private lapsed(): boolean {
    return this.leasesUntil !== undefined && Date.now() > this.leasesUntil;
  }

  private stop(runId: string, reason: AbortReason): void {
    const run = this.active.get(runId);
    if (!run || run.controller.signal.aborted) return;
    this.logger.warn(`run ${runId}: stopping (${reason})`);
    run.controller.abort(reason);
  }

  /**
   * One loop per slot: take one message, get the run granted, and wait for it to
   * end before taking another. A runner never holds work it has no slot for, and
   * its slots ask for work and starts in parallel.
   */
  private async slotLoop(): Promise<void> {
    while (!this.stopping) {
      // Its containers would be removed at once: the work is left for other runners.
      if (this.lapsed()) {
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      let running: Promise<unknown> | undefined;
      const routes = {
        [workSubject(this.pool)]: {
          schema: RunDispatched,
          handle: async (work: RunDispatched) => {
            running = (await this.accept(work))?.done;
          },
        },
      };
      try {
        await this.bus.pullOne('work', runnerConsumer(this.pool), routes, { expiresMs: 1000 });
      } catch (error) {
        if (this.stopping) break;
        this.logger.warn(`pulling work failed: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      await running;
    }
  }

  /**
   * Asks for the run and, when granted, takes it into a slot. The message is
   * acknowledged once this returns (granted, or refused: the run is not ours to
   * execute); if no answer comes, it throws and the message is delivered again.
   */
  private async accept(work: RunDispatched): Promise<{ done: Promise<unknown> } | undefined> {
    if (this.stopping) throw new Error(`shutting down: run ${work.runId} left for another runner`);
    if (this.active.has(work.runId)) return undefined;
    const reply = await this.requestStart(work);
    if (!reply.ok) {
      this.logger.warn(`run ${work.runId}: not started: ${reply.reason}`);
      return undefined;
    }
    const controller = new AbortController();
    const deadline = setTimeout(() => controller.abort('TIMEOUT'), work.timeoutMs);
    this.logger.log(`run ${work.runId} (task ${work.taskId}, attempt ${work.attempt}) started`);
    if (!this.executor) throw new Error('the runner is not started');
    const done = this.executor
      .execute(work, controller.signal)
      .then((outcome) => this.logger.log(`run ${work.runId} ${outcome.outcome}`))
      .catch((error: Error) => this.logger.error(`run ${work.runId} crashed: ${error.message}`))
      .finally(() => {
        clearTimeout(deadline);
        this.active.delete(work.runId);
      });
    this.active.set(work.runId, { work, controller, done });
    return { done };
  }

  private async requestStart(work: RunDispatched): Promise<StartRunReply> {
    const request: RunStarted = {
      runId: work.runId,
      leaseToken: work.leaseToken,
      runnerId: this.config.RUNNER_ID,
      startedAt: new Date().toISOString(),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        // Granting is idempotent for the same runner, so a retry after a lost reply is safe.
        return await this.bus.request(Subjects.runStart, request, StartRunReply, START_TIMEOUT_MS, {
          correlationId: work.ticketId,
        });
      } catch (error) {
        if (attempt >= START_TRIES || this.stopping) throw error;
        this.logger.warn(`run ${work.runId}: start request failed (${(error as Error).message})`);
      }
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    // Slot loops stop taking work; those waiting on a run are released below.
    await Promise.race([this.pulling, new Promise((r) => setTimeout(r, 1500).unref())]);
    if (this.active.size) {
      this.logger.log(
        `waiting up to ${this.config.RUNNER_SHUTDOWN_GRACE_MS} ms for ${this.active.size} runs`,
      );
      const all = Promise.all([...this.active.values()].map((r) => r.done));
      const grace = new Promise((r) => setTimeout(r, this.config.RUNNER_SHUTDOWN_GRACE_MS).unref());
      await Promise.race([all, grace]);
      for (const runId of this.active.keys()) this.stop(runId, RELEASE);
      await all;
    }
    await this.pulling;
    clearInterval(this.heartbeat);
    await this.bus
      .request(Subjects.runnerDeregister, { runnerId: this.config.RUNNER_ID }, RegistryReply, 2000)
      .catch((error: Error) => this.logger.warn(`deregistration failed: ${error.message}`));
  }
}

/**
 * Why the runner will not start without its image, and the command that builds
 * it: the agent image is built here (the engine never pulls), any other image by
 * whoever chose it.
 */
export function missingImageMessage(image: string, host: string): string {
  const missing = `sandbox image ${image} is not on the engine at ${host}`;
  if (image.startsWith(`${AGENT_IMAGE_REPO}:`)) {
    return `${missing}: build it with \`npm run sandbox:build\` (the agent image, tools/agent-image; see docs/agents.md)`;
  }
  return (
    `${missing}: build or load it there, or leave RUNNER_IMAGE unset for the agent image ` +
    `${AGENT_IMAGE_REPO}:latest, which \`npm run sandbox:build\` builds`
  );
}
