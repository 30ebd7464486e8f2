import {
  Inject,
  Injectable,
  Logger,
  Module,
  type OnApplicationShutdown,
  type DynamicModule,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { CommonConfig } from '@drover/config';
import type { StreamName } from '@drover/contracts';
import { PrismaService } from '@drover/db';
import { OutboxRelay } from '@drover/events';
import { NatsBus } from '@drover/messaging';
import { TimerQueue } from '@drover/timers';
import { ServiceMetrics } from './metrics';
import { outboxBacklogGauge, relayMetrics } from './relay-metrics';

export interface InfraOptions {
  service: string;
  config: CommonConfig;
  /** JetStream streams this service publishes to or consumes from. */
  streams: readonly StreamName[];
  /** Run an outbox relay (services that write state changes). */
  relay: boolean;
  /** Services that never touch Postgres (the runner) leave this false. */
  database: boolean;
  /** Services that set or fire timers (BullMQ on Redis). */
  timers?: boolean;
  /** Port of the service's own `GET /metrics` server; 0 or absent: none (the gateway serves its own route). */
  metricsPort?: number;
}

const INFRA_OPTIONS = Symbol('INFRA_OPTIONS');

/**
 * Starts the outbox relay once the app is up. Closes relay, NATS and Postgres in
 * that order, after every service's own `beforeApplicationShutdown` (a runner
 * still needs NATS to release its work and deregister).
 */
@Injectable()
class InfraLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Infra');

  constructor(
    @Inject(INFRA_OPTIONS) private readonly options: InfraOptions,
    private readonly bus: NatsBus,
    @Inject(OutboxRelay) private readonly relay: OutboxRelay | null,
    @Inject(PrismaService) private readonly prisma: PrismaService | null,
    @Inject(TimerQueue) private readonly timers: TimerQueue | null,
    private readonly metrics: ServiceMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { metricsPort, config } = this.options;
    if (metricsPort) {
      await this.metrics.listen(metricsPort, config.METRICS_HOST);
      this.logger.log(`metrics on http://${config.METRICS_HOST}:${metricsPort}/metrics`);
    }
    this.relay?.start();
    this.logger.log(
      `${this.options.service} connected to NATS and ${this.prisma ? 'Postgres' : 'no database'}`,
    );
  }

  async onApplicationShutdown(): Promise<void> {
    await this.metrics.close();
    await this.relay?.stop();
    await this.timers?.close();
    await this.bus.close();
    await this.prisma?.$disconnect();
  }
}

/**
 * Postgres, NATS, the outbox relay, the timer queue and the metrics registry for
 * one service, as global providers: `PrismaService`, `NatsBus`, `OutboxRelay`,
 * `TimerQueue` (null where the service does not use them), `ServiceMetrics`.
 */
@Module({})
export class InfraModule {
  static forRoot(options: InfraOptions): DynamicModule {
    return {
      module: InfraModule,
      global: true,
      providers: [
        { provide: INFRA_OPTIONS, useValue: options },
        { provide: ServiceMetrics, useFactory: () => new ServiceMetrics(options.service) },
        {
          provide: PrismaService,
          useFactory: () =>
            options.database ? new PrismaService(options.config.DATABASE_URL) : null,
        },
        {
          provide: NatsBus,
          useFactory: async () => {
            const bus = await NatsBus.connect({
              url: options.config.NATS_URL,
              prefix: options.config.DROVER_SUBJECT_PREFIX,
              service: options.service,
            });
            await bus.ensureStreams(options.streams);
            return bus;
          },
        },
        {
          provide: OutboxRelay,
          inject: [PrismaService, NatsBus, ServiceMetrics],
          useFactory: (prisma: PrismaService | null, bus: NatsBus, metrics: ServiceMetrics) => {
            if (!options.relay || !prisma) return null;
            outboxBacklogGauge(metrics, prisma);
            return new OutboxRelay(prisma, bus, {
              pollMs: options.config.DROVER_RELAY_POLL_MS,
              onPublished: relayMetrics(metrics, prisma),
            });
          },
        },
        {
          provide: TimerQueue,
          useFactory: () =>
            options.timers
              ? TimerQueue.create({
                  redisUrl: options.config.REDIS_URL,
                  prefix: options.config.DROVER_REDIS_PREFIX,
                })
              : null,
        },
        InfraLifecycle,
      ],
      exports: [PrismaService, NatsBus, OutboxRelay, TimerQueue, ServiceMetrics],
    };
  }
}
