import './telemetry';
import { NestFactory } from '@nestjs/core';
import { HealthConfigSchema, loadConfig } from '@drover/config';
import { closeOnSignals, createLogger, loadOrExit, runMain } from '@drover/service-kit';
import { HealthMonitorModule } from './app.module';

runMain('health-monitor', async () => {
  const config = loadOrExit('health-monitor', () => loadConfig(HealthConfigSchema));
  const app = await NestFactory.createApplicationContext(HealthMonitorModule.register(config), {
    logger: createLogger('health-monitor', config),
  });
  closeOnSignals(app, 'health-monitor');
  await app.init();
});
