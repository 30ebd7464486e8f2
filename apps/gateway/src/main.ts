import './telemetry';
import { GatewayConfigSchema, loadConfig } from '@drover/config';
import { closeOnSignals, createLogger, loadOrExit, runMain } from '@drover/service-kit';
import { createGateway } from './gateway.app';

runMain('gateway', async () => {
  const config = loadOrExit('gateway', () => loadConfig(GatewayConfigSchema));
  const app = await createGateway(config);
  closeOnSignals(app, 'gateway');
  await app.listen(config.GATEWAY_PORT, config.GATEWAY_HOST);
  createLogger('gateway', config).log(
    `listening on http://${config.GATEWAY_HOST}:${config.GATEWAY_PORT}`,
  );
});
