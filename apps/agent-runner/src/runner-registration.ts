import { Logger } from '@nestjs/common';
import type { RunnerConfig } from '@drover/config';
import { AgentName, RegistryReply, Subjects, type RegisterRunner } from '@drover/contracts';
import type { NatsBus } from '@drover/messaging';

/** The registry said no: retrying will not change its mind, and the runner must not start. */
export class RegistrationRefused extends Error {}

/**
 * Registers the runner with the health monitor, in the shared pool or, with
 * RUNNER_PROJECT, in that project's own pool. Retries until the registry answers
 * (or the runner stops); a refusal is final. One registration at a time.
 */
export class RunnerRegistration {
  private readonly logger = new Logger(RunnerRegistration.name);
  private registering: Promise<string | null> | undefined;

  constructor(
    private readonly bus: NatsBus,
    private readonly config: RunnerConfig,
    private readonly isStopped: () => boolean,
    /** The engine's images (undefined: the runner runs any image, or does not say). */
    private readonly images: () => Promise<string[] | undefined> = () => Promise.resolve(undefined),
  ) {}

  /** Resolves to the runner's pool: its project's id, or null for the shared pool. */
  register(): Promise<string | null> {
    this.registering ??= this.registerOnce().finally(() => (this.registering = undefined));
    return this.registering;
  }

  private async registerOnce(): Promise<string | null> {
    const project = this.config.RUNNER_PROJECT;
    const images = await this.images();
    const request: RegisterRunner = {
      runnerId: this.config.RUNNER_ID,
      name: this.config.RUNNER_NAME ?? this.config.RUNNER_ID,
      slots: this.config.RUNNER_SLOTS,
      capabilities: [...AgentName.options],
      heartbeatIntervalMs: this.config.RUNNER_HEARTBEAT_MS,
      ...(project ? { project } : {}),
      ...(images ? { images } : {}),
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const reply = await this.bus.request(Subjects.runnerRegister, request, RegistryReply, 5000);
        const pool = this.poolOf(reply);
        const where = project ? `the pool of project ${project}` : 'the shared pool';
        this.logger.log(
          `registered as ${request.runnerId} with ${request.slots} slots in ${where}`,
        );
        return pool;
      } catch (error) {
        if (error instanceof RegistrationRefused || this.isStopped()) throw error;
        this.logger.warn(
          `registration attempt ${attempt} failed (${(error as Error).message}); retrying`,
        );
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  /**
   * The pool a registry reply puts this runner in. A reply that does not confirm
   * the project asked for (a refusal, or a registry that ignored the project) is
   * a refusal: such a runner must never take the shared pool's work instead.
   */
  private poolOf(reply: RegistryReply): string | null {
    const project = this.config.RUNNER_PROJECT;
    const why = reply.message ?? 'no reason given';
    if (!project) {
      if (!reply.ok) throw new RegistrationRefused(`registration refused: ${why}`);
      return null;
    }
    if (!reply.ok) {
      throw new RegistrationRefused(
        `RUNNER_PROJECT=${project}: the registry refused this runner: ${why}`,
      );
    }
    if (!reply.projectId) {
      throw new RegistrationRefused(
        `RUNNER_PROJECT=${project}: the registry did not confirm the project ` +
          '(is the health monitor older than runner pools?)',
      );
    }
    return reply.projectId;
  }
}
