import { Module, type DynamicModule } from '@nestjs/common';
import { SchedulerConfig } from '@drover/config';
import { PrismaService } from '@drover/db';
import { AssessWaitingTasks, DispatchReadyTasks } from '@drover/scheduling';
import { InfraModule } from '@drover/service-kit';
import { SchedulerLoop } from './scheduler.loop';
import { BacklogMetrics } from './backlog-metrics';
import { LimitsHandler } from './limits.handler';

@Module({})
export class SchedulerModule {
  static register(config: SchedulerConfig): DynamicModule {
    return {
      module: SchedulerModule,
      imports: [
        InfraModule.forRoot({
          service: 'scheduler',
          config,
          metricsPort: config.SCHEDULER_METRICS_PORT,
          streams: ['work', 'events'],
          relay: true,
          database: true,
        }),
      ],
      providers: [
        BacklogMetrics,
        { provide: SchedulerConfig, useValue: config },
        {
          provide: DispatchReadyTasks,
          inject: [PrismaService],
          useFactory: (prisma: PrismaService) =>
            new DispatchReadyTasks(
              prisma,
              config.DROVER_CONCURRENCY,
              config.SCHEDULER_BATCH_SIZE,
              config.DROVER_PROJECT_MAX_RUNNING_TASKS,
            ),
        },
        {
          provide: AssessWaitingTasks,
          inject: [PrismaService],
          useFactory: (prisma: PrismaService) => new AssessWaitingTasks(prisma),
        },
        SchedulerLoop,
        LimitsHandler,
      ],
    };
  }
}
