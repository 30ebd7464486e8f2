import './telemetry';
import { NestFactory } from '@nestjs/core';
import { loadConfig, RunnerConfigSchema } from '@drover/config';
import { closeOnSignals, createLogger, loadOrExit, runMain } from '@drover/service-kit';
import { AgentRunnerModule } from './app.module';

runMain('agent-runner', async () => {
  const config = loadOrExit('agent-runner', () => loadConfig(RunnerConfigSchema));
  const app = await NestFactory.createApplicationContext(AgentRunnerModule.register(config), {
    logger: createLogger('agent-runner', config),
  });
  closeOnSignals(app, 'agent-runner');
  await app.init();
});
