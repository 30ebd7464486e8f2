import { Module, type DynamicModule } from '@nestjs/common';
import { OrchestratorConfig } from '@drover/config';
import { PrismaService } from '@drover/db';
import { InfraModule } from '@drover/service-kit';
import { AppendRunLog, CreateTicket, RecordRunFinished, RecordRunStarted } from '@drover/workflow';
import { OrchestratorHandlers } from './orchestrator.handlers';

const useCases = [CreateTicket, RecordRunStarted, RecordRunFinished, AppendRunLog].map(
  (UseCase) => ({
    provide: UseCase,
    inject: [PrismaService],
    useFactory: (prisma: PrismaService) => new UseCase(prisma),
  }),
);

@Module({})
export class OrchestratorModule {
  static register(config: OrchestratorConfig): DynamicModule {
    return {
      module: OrchestratorModule,
      imports: [
        InfraModule.forRoot({
          service: 'orchestrator',
          config,
          streams: ['work', 'reports', 'events'],
          relay: true,
          database: true,
        }),
      ],
      providers: [
        { provide: OrchestratorConfig, useValue: config },
        ...useCases,
        OrchestratorHandlers,
      ],
    };
  }
}
