import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { Events } from 'nats';
import { HealthConfig } from '@drover/config';
import {
  DeregisterRunner,
  RegisterRunner,
  RunnerHeartbeat,
  Subjects,
  type HeartbeatReply,
  type RegistryReply,
} from '@drover/contracts';
import { OutboxRelay } from '@drover/events';
import { NatsBus } from '@drover/messaging';
import { RunnerRegistry } from '@drover/runner-registry';
import { Batcher, KickedLoop } from '@drover/util';
import { Reconciler } from '@drover/workflow';

/**
 * Runner registration and heartbeats (which renew leases), the frequent check
 * for stale runners and expired leases, and the slower reconciler pass that
 * repairs what lost messages and timers would strand.
 */
@Injectable()
export class HealthHandlers implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly check: KickedLoop;
  private readonly reconcile: KickedLoop;
  private readonly beats: Batcher<RunnerHeartbeat, HeartbeatReply>;
  /**
   * The last moment this monitor could not receive or record heartbeats: its
   * start, a NATS disconnection, a failed write. Silence it could not have heard
   * is not held against runners.
   */
  private blindSince = new Date();
  /** False while NATS is away: then every moment is blind, not just the disconnection. */
  private connected = true;

  /** The last moment this monitor could not receive or record heartbeats (now, while disconnected). */
  private get blindAt(): Date {
    return this.connected ? this.blindSince : new Date();
  }

  constructor(
    private readonly bus: NatsBus,
    @Inject(OutboxRelay) private readonly relay: OutboxRelay,
    private readonly registry: RunnerRegistry,
    private readonly reconciler: Reconciler,
    config: HealthConfig,
  ) {
    this.check = new KickedLoop(
      'HealthCheck',
      async () => {
        const stale = await this.registry.markStale(this.blindAt);
        const expired = await this.reconciler.expireLeases(this.blindAt);
        if (stale.length || expired) this.relay.kick();
        return false;
      },
      config.HEALTH_CHECK_INTERVAL_MS,
    );
    this.reconcile = new KickedLoop(
      'Reconciler',
      async () => {
        const report = await this.reconciler.pass(this.blindAt);
        if (Object.values(report).some(Boolean)) this.relay.kick();
        return false;
      },
      config.HEALTH_RECONCILE_INTERVAL_MS,
    );
    // Heartbeats that arrive together are written in one transaction.
    this.beats = new Batcher(
      (beats) => this.registry.heartbeats(beats),
      async (beat) => (await this.registry.heartbeats([beat]))[0],
      1024,
    );
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
        const reply = await this.registry.register(input);
        if (reply.ok) {
          this.relay.kick();
          this.check.kick();
        }
        return reply;
      },
      replies,
    );
    this.bus.serve(
      Subjects.runnerDeregister,
      DeregisterRunner,
      async (input): Promise<RegistryReply> => {
        const changed = await this.registry.deregister(input);
        if (changed) {
          this.relay.kick();
          this.check.kick();
        }
        return { ok: true };
      },
      replies,
    );
    // An invalid or failed heartbeat revokes nothing: the runner keeps its runs
    // until its leases run out, as if the heartbeat had been lost.
    const noAnswer = (): HeartbeatReply => ({ registered: true, revoked: [] });
    this.bus.serve(
      Subjects.runnerHeartbeat,
      RunnerHeartbeat,
      async (beat) => {
        try {
          return await this.beats.submit(beat);
        } catch (error) {
          this.blindSince = new Date();
          throw error;
        }
      },
      { invalid: noAnswer, failed: noAnswer },
    );
    void this.watchConnection();
    this.check.start();
    this.reconcile.start();
  }

  /** While NATS is away no heartbeat can arrive: the monitor is blind until it is back. */
  private async watchConnection(): Promise<void> {
    for await (const status of this.bus.connection.status()) {
      if (status.type === Events.Disconnect || status.type === Events.Reconnect) {
        this.connected = status.type === Events.Reconnect;
        this.blindSince = new Date();
      }
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.check.stop();
    await this.reconcile.stop();
  }
}
