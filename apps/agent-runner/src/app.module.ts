import { Module, type DynamicModule } from '@nestjs/common';
import { RunnerConfig } from '@drover/config';
import { InfraModule } from '@drover/service-kit';
import { RunnerService } from './runner.service';

@Module({})
export class AgentRunnerModule {
  static register(config: RunnerConfig): DynamicModule {
    return {
      module: AgentRunnerModule,
      imports: [
        // Runners are untrusted: NATS only, never Postgres.
        InfraModule.forRoot({
          service: 'agent-runner',
          config,
          metricsPort: config.RUNNER_METRICS_PORT,
          streams: ['work', 'reports'],
          relay: false,
          database: false,
        }),
      ],
      providers: [{ provide: RunnerConfig, useValue: config }, RunnerService],
    };
  }
}
