import { initTelemetry } from '@drover/telemetry';

initTelemetry({ serviceName: 'health-monitor' });
