import { join } from 'node:path';
import { tmpdir } from 'node:os';
import {
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { RunnerConfig } from '@drover/config';
import {
  Consumers,
  RegistryReply,
  RunDispatched,
  Subjects,
  type RunnerHeartbeat,
} from '@drover/contracts';
import { ProcessDriver, RELEASE, RunExecutor } from '@drover/execution';
import { NatsBus } from '@drover/messaging';
import { NatsRunReporter } from './nats-run-reporter';

interface ActiveRun {
  controller: AbortController;
  done: Promise<unknown>;
}

/**
 * One runner: registers its slots, pulls only as much work as it has free
 * slots, heartbeats, and on shutdown stops pulling, lets running work finish
 * within the grace period, then releases the rest and deregisters.
 */
@Injectable()
export class RunnerService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(RunnerService.name);
  private readonly active = new Map<string, ActiveRun>();
  private readonly executor: RunExecutor;
  private stopping = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private pulling: Promise<void> | undefined;
  private slotFreed: (() => void) | undefined;

  constructor(
    private readonly bus: NatsBus,
    private readonly config: RunnerConfig,
  ) {
    this.executor = new RunExecutor({
      workdir: config.RUNNER_WORKDIR ?? join(tmpdir(), 'drover-runs', config.RUNNER_ID),
      driver: new ProcessDriver(),
      reporter: new NatsRunReporter(bus, config.RUNNER_ID, () => this.stopping),
      logFlushMs: config.RUNNER_LOG_FLUSH_MS,
      keepWorkspaces: config.RUNNER_KEEP_WORKSPACES,
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    this.logger.warn('sandbox driver "process": runs are NOT isolated from this host');
    await this.bus.ensureConsumer('work', Consumers.runners);
    await this.register();
    this.heartbeat = setInterval(() => this.beat(), this.config.RUNNER_HEARTBEAT_MS);
    this.pulling = this.pullLoop();
  }

  private async register(): Promise<void> {
    const request = {
      runnerId: this.config.RUNNER_ID,
      name: this.config.RUNNER_NAME ?? this.config.RUNNER_ID,
      slots: this.config.RUNNER_SLOTS,
      capabilities: ['command'],
      heartbeatIntervalMs: this.config.RUNNER_HEARTBEAT_MS,
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await this.bus.request(Subjects.runnerRegister, request, RegistryReply, 5000);
        if (!reply.ok)
          throw new Error(`registration refused: ${reply.message ?? 'no reason given'}`);
        this.logger.log(`registered as ${request.runnerId} with ${request.slots} slots`);
        return;
      } catch (error) {
        if (String((error as Error).message).startsWith('registration refused')) throw error;
        this.logger.warn(
          `registration attempt ${attempt} failed (${(error as Error).message}); retrying`,
        );
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private beat(): void {
    const beat: RunnerHeartbeat = {
      runnerId: this.config.RUNNER_ID,
      freeSlots: this.config.RUNNER_SLOTS - this.active.size,
      activeRunIds: [...this.active.keys()],
      sentAt: new Date().toISOString(),
    };
    this.bus.emit(Subjects.runnerHeartbeat, beat);
  }

  private async pullLoop(): Promise<void> {
    const routes = {
      [Subjects.runDispatched]: {
        schema: RunDispatched,
        handle: (work: RunDispatched) => Promise.resolve(this.accept(work)),
      },
    };
    while (!this.stopping) {
      if (this.active.size >= this.config.RUNNER_SLOTS) {
        await new Promise<void>((r) => (this.slotFreed = r));
        continue;
      }
      try {
        // One at a time: a runner never holds work it has no free slot for.
        await this.bus.pullOne('work', Consumers.runners, routes, { expiresMs: 1000 });
      } catch (error) {
        if (this.stopping) break;
        this.logger.warn(`pulling work failed: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** Takes a run into a slot; the message is acknowledged once this returns. */
  private accept(work: RunDispatched): void {
    // Thrown, the message is not acknowledged: another runner takes it.
    if (this.stopping) throw new Error(`shutting down: run ${work.runId} left for another runner`);
    if (this.active.has(work.runId)) return;
    const controller = new AbortController();
    this.logger.log(`run ${work.runId} (task ${work.taskId}, attempt ${work.attempt}) started`);
    const done = this.executor
      .execute(work, controller.signal)
      .then((outcome) => this.logger.log(`run ${work.runId} ${outcome.outcome}`))
      .catch((error: Error) => this.logger.error(`run ${work.runId} crashed: ${error.message}`))
      .finally(() => {
        this.active.delete(work.runId);
        this.slotFreed?.();
        this.slotFreed = undefined;
      });
    this.active.set(work.runId, { controller, done });
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping = true;
    this.slotFreed?.();
    await this.pulling;
    if (this.active.size) {
      this.logger.log(
        `waiting up to ${this.config.RUNNER_SHUTDOWN_GRACE_MS} ms for ${this.active.size} runs`,
      );
      const all = Promise.all([...this.active.values()].map((r) => r.done));
      const grace = new Promise((r) => setTimeout(r, this.config.RUNNER_SHUTDOWN_GRACE_MS).unref());
      await Promise.race([all, grace]);
      for (const [runId, run] of this.active) {
        this.logger.warn(`releasing run ${runId}`);
        run.controller.abort(RELEASE);
      }
      await all;
    }
    clearInterval(this.heartbeat);
    await this.bus
      .request(Subjects.runnerDeregister, { runnerId: this.config.RUNNER_ID }, RegistryReply, 2000)
      .catch((error: Error) => this.logger.warn(`deregistration failed: ${error.message}`));
  }
}
