import { initTelemetry } from '@drover/telemetry';

initTelemetry({ serviceName: 'scheduler' });
