import { Logger, type INestApplicationContext, type LogLevel } from '@nestjs/common';
import { ConfigError, type CommonConfig } from '@drover/config';
import { shutdownTelemetry } from '@drover/telemetry';
import { TracedLogger } from './traced-logger';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** The service's logger: every line written inside a span carries its trace id. */
export function createLogger(
  service: string,
  config: Pick<CommonConfig, 'LOG_LEVEL' | 'LOG_FORMAT'>,
) {
  return new TracedLogger(service, {
    json: config.LOG_FORMAT === 'json',
    logLevels: LEVELS.slice(0, LEVELS.indexOf(config.LOG_LEVEL) + 1),
  });
}

/**
 * Loads config or exits with every bad key listed; the process never starts
 * half-configured.
 */
export function loadOrExit<T>(service: string, load: () => T): T {
  try {
    return load();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`drover-${service}: ${error.message}\n`);
      process.exit(78); // EX_CONFIG
    }
    throw error;
  }
}

/**
 * Closes the app on SIGTERM/SIGINT (Nest runs every shutdown hook), flushes
 * traces and exits 0; a second signal exits at once.
 */
export function closeOnSignals(app: INestApplicationContext, service: string): void {
  const logger = new Logger(service);
  let closing = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (closing) process.exit(1);
      closing = true;
      logger.log(`${signal} received, shutting down`);
      app
        .close()
        // Spans a collector cannot take are lost, but the service did shut down cleanly.
        .then(() =>
          shutdownTelemetry().catch((error: Error) =>
            logger.warn(`traces not flushed: ${error.message}`),
          ),
        )
        .then(
          () => process.exit(0),
          (error: Error) => {
            logger.error(`shutdown failed: ${error.message}`, error.stack);
            process.exit(1);
          },
        );
    });
  }
}

/** Runs a service's `main`, exiting non-zero with the error when start-up fails. */
export function runMain(service: string, main: () => Promise<void>): void {
  main().catch((error: Error) => {
    new Logger(service).fatal(`failed to start: ${error.message}`, error.stack);
    process.exit(1);
  });
}
