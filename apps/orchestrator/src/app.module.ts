import { Module, type DynamicModule } from '@nestjs/common';
import { OrchestratorConfig } from '@drover/config';
import { PrismaService } from '@drover/db';
import { InfraModule } from '@drover/service-kit';
import { TimerQueue } from '@drover/timers';
import {
  ActOnTask,
  AppendRunLog,
  CancelWork,
  CreateExperimentUseCase,
  CreateTicket,
  DeleteTicket,
  FireTimer,
  RecordArtifact,
  RecordRunFinished,
  RerunWork,
  StartRun,
} from '@drover/workflow';
import { OrchestratorHandlers } from './orchestrator.handlers';
import { TaskMetrics } from './task-metrics';

@Module({})
export class OrchestratorModule {
  static register(config: OrchestratorConfig): DynamicModule {
    const withTimers = [
      RecordRunFinished,
      AppendRunLog,
      RecordArtifact,
      CancelWork,
      RerunWork,
      FireTimer,
      DeleteTicket,
    ].map((UseCase) => ({
      provide: UseCase,
      inject: [PrismaService, TimerQueue],
      useFactory: (prisma: PrismaService, timers: TimerQueue) => new UseCase(prisma, timers),
    }));
    return {
      module: OrchestratorModule,
      imports: [
        InfraModule.forRoot({
          service: 'orchestrator',
          config,
          metricsPort: config.ORCHESTRATOR_METRICS_PORT,
          streams: ['work', 'reports', 'events'],
          relay: true,
          database: true,
          timers: true,
        }),
      ],
      providers: [
        TaskMetrics,
        { provide: OrchestratorConfig, useValue: config },
        {
          provide: CreateTicket,
          inject: [PrismaService, TimerQueue],
          useFactory: (prisma: PrismaService, timers: TimerQueue) =>
            new CreateTicket(
              prisma,
              {
                maxAttempts: config.DROVER_RETRY_MAX_ATTEMPTS,
                timeoutMs: config.DROVER_TASK_TIMEOUT_MS,
                backoffBaseMs: config.DROVER_RETRY_BACKOFF_MS,
                backoffFactor: config.DROVER_RETRY_FACTOR,
                backoffCapMs: config.DROVER_RETRY_MAX_BACKOFF_MS,
              },
              {
                maxTasksPerHour: config.DROVER_PROJECT_MAX_TASKS_PER_HOUR,
                maxResources: {
                  memory_mb: config.DROVER_MAX_TASK_MEMORY_MB,
                  cpus: config.DROVER_MAX_TASK_CPUS,
                  pids: config.DROVER_MAX_TASK_PIDS,
                  tmpfs_mb: config.DROVER_MAX_TASK_TMPFS_MB,
                  disk_mb: config.DROVER_MAX_TASK_DISK_MB,
                },
              },
              config.DROVER_SECRETS_KEY,
              timers,
            ),
        },
        {
          provide: StartRun,
          inject: [PrismaService, TimerQueue],
          useFactory: (prisma: PrismaService, timers: TimerQueue) =>
            new StartRun(prisma, timers, {
              leaseHeartbeats: config.DROVER_STALE_AFTER_HEARTBEATS,
              timeoutGraceMs: config.ORCHESTRATOR_TIMEOUT_GRACE_MS,
            }),
        },
        {
          provide: CreateExperimentUseCase,
          inject: [PrismaService, CreateTicket],
          useFactory: (prisma: PrismaService, createTicket: CreateTicket) =>
            new CreateExperimentUseCase(prisma, createTicket),
        },
        {
          provide: ActOnTask,
          inject: [PrismaService, TimerQueue],
          useFactory: (prisma: PrismaService, timers: TimerQueue) =>
            new ActOnTask(prisma, timers, config.DROVER_SECRETS_KEY),
        },
        ...withTimers,
        OrchestratorHandlers,
      ],
    };
  }
}
