import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { HealthConfig } from '@drover/config';
import {
  DeregisterRunner,
  RegisterRunner,
  RunnerHeartbeat,
  Subjects,
  type RegistryReply,
} from '@drover/contracts';
import { OutboxRelay } from '@drover/events';
import { NatsBus } from '@drover/messaging';
import { RunnerRegistry } from '@drover/runner-registry';
import { KickedLoop } from '@drover/util';

/** Runner registration, buffered heartbeats, and the periodic stale check. */
@Injectable()
export class HealthHandlers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly loop: KickedLoop;

  constructor(
    private readonly bus: NatsBus,
    @Inject(OutboxRelay) private readonly relay: OutboxRelay,
    private readonly registry: RunnerRegistry,
    config: HealthConfig,
  ) {
    this.loop = new KickedLoop('HealthCheck', () => this.check(), config.HEALTH_CHECK_INTERVAL_MS);
  }

  onApplicationBootstrap(): void {
    const replies = {
      invalid: (message: string): RegistryReply => ({ ok: false, message }),
      failed: (): RegistryReply => ({ ok: false, message: 'the health monitor failed' }),
    };
    this.bus.serve(
      Subjects.runnerRegister,
      RegisterRunner,
      async (input): Promise<RegistryReply> => {
        await this.registry.register(input);
        this.relay.kick();
        return { ok: true };
      },
      replies,
    );
    this.bus.serve(
      Subjects.runnerDeregister,
      DeregisterRunner,
      async (input): Promise<RegistryReply> => {
        const changed = await this.registry.deregister(input);
        if (changed) this.relay.kick();
        return { ok: true };
      },
      replies,
    );
    this.bus.subscribe(
      Subjects.runnerHeartbeat,
      RunnerHeartbeat,
      (beat) => Promise.resolve(this.registry.recordHeartbeat(beat)),
      'health-monitor',
    );
    this.loop.start();
  }

  private async check(): Promise<boolean> {
    await this.registry.flushHeartbeats();
    await this.registry.markStale();
    this.relay.kick();
    return false;
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.loop.stop();
  }
}
