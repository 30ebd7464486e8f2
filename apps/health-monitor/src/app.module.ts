import { Module, type DynamicModule } from '@nestjs/common';
import { HealthConfig } from '@drover/config';
import { PrismaService } from '@drover/db';
import { RunnerRegistry } from '@drover/runner-registry';
import { InfraModule } from '@drover/service-kit';
import { HealthHandlers } from './health.handlers';

@Module({})
export class HealthMonitorModule {
  static register(config: HealthConfig): DynamicModule {
    return {
      module: HealthMonitorModule,
      imports: [
        InfraModule.forRoot({
          service: 'health-monitor',
          config,
          streams: ['events'],
          relay: true,
          database: true,
        }),
      ],
      providers: [
        { provide: HealthConfig, useValue: config },
        {
          provide: RunnerRegistry,
          inject: [PrismaService],
          useFactory: (prisma: PrismaService) =>
            new RunnerRegistry(prisma, config.HEALTH_STALE_AFTER_INTERVALS),
        },
        HealthHandlers,
      ],
    };
  }
}
