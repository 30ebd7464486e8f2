import './telemetry';
import { NestFactory } from '@nestjs/core';
import { loadSchedulerConfig } from '@drover/config';
import { closeOnSignals, createLogger, loadOrExit, runMain } from '@drover/service-kit';
import { SchedulerModule } from './app.module';

runMain('scheduler', async () => {
  const config = loadOrExit('scheduler', () => loadSchedulerConfig());
  const app = await NestFactory.createApplicationContext(SchedulerModule.register(config), {
    logger: createLogger('scheduler', config),
  });
  closeOnSignals(app, 'scheduler');
  await app.init();
});
