import { initTelemetry } from '@drover/telemetry';

initTelemetry({ serviceName: 'agent-runner' });
