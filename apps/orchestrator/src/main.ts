import './telemetry';
import { NestFactory } from '@nestjs/core';
import { loadConfig, OrchestratorConfigSchema } from '@drover/config';
import { closeOnSignals, createLogger, loadOrExit, runMain } from '@drover/service-kit';
import { OrchestratorModule } from './app.module';

runMain('orchestrator', async () => {
  const config = loadOrExit('orchestrator', () => loadConfig(OrchestratorConfigSchema));
  const app = await NestFactory.createApplicationContext(OrchestratorModule.register(config), {
    logger: createLogger('orchestrator', config),
  });
  closeOnSignals(app, 'orchestrator');
  await app.init();
});
