import { Module, type DynamicModule } from '@nestjs/common';
import { HealthConfig } from '@drover/config';
import { PrismaService } from '@drover/db';
import { RunnerRegistry } from '@drover/runner-registry';
import { InfraModule } from '@drover/service-kit';
import { TimerQueue } from '@drover/timers';
import { FireTimer, Reconciler } from '@drover/workflow';
import { HealthHandlers } from './health.handlers';
import { RunnerMetrics } from './runner-metrics';

@Module({})
export class HealthMonitorModule {
  static register(config: HealthConfig): DynamicModule {
    return {
      module: HealthMonitorModule,
      imports: [
        InfraModule.forRoot({
          service: 'health-monitor',
          config,
          metricsPort: config.HEALTH_METRICS_PORT,
          streams: ['work', 'events'],
          relay: true,
          database: true,
          timers: true,
        }),
      ],
      providers: [
        RunnerMetrics,
        { provide: HealthConfig, useValue: config },
        {
          provide: RunnerRegistry,
          inject: [PrismaService],
          useFactory: (prisma: PrismaService) =>
            new RunnerRegistry(prisma, config.DROVER_STALE_AFTER_HEARTBEATS),
        },
        {
          provide: Reconciler,
          inject: [PrismaService, TimerQueue],
          useFactory: (prisma: PrismaService, timers: TimerQueue) =>
            new Reconciler(prisma, new FireTimer(prisma, timers), timers, {
              startDeadlineMs: config.DROVER_START_DEADLINE_MS,
              timerGraceMs: config.HEALTH_TIMER_GRACE_MS,
              batch: 500,
              leaseHeartbeats: config.DROVER_STALE_AFTER_HEARTBEATS,
            }),
        },
        HealthHandlers,
      ],
    };
  }
}
