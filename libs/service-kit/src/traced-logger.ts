import { ConsoleLogger, type LogLevel } from '@nestjs/common';
import { activeTraceId } from '@drover/telemetry';

/**
 * Nest's console logger, with the trace id of the active span on every line
 * written inside one: `trace=<id>` after the context in text, `traceId` in JSON.
 * A log line then leads to its trace, and a trace to every line it wrote.
 */
export class TracedLogger extends ConsoleLogger {
  protected override getJsonLogObject(
    ...args: Parameters<ConsoleLogger['getJsonLogObject']>
  ): ReturnType<ConsoleLogger['getJsonLogObject']> & { traceId?: string } {
    const object = super.getJsonLogObject(...args);
    const traceId = activeTraceId();
    return traceId ? { ...object, traceId } : object;
  }

  protected override formatMessage(
    logLevel: LogLevel,
    message: unknown,
    pidMessage: string,
    formattedLogLevel: string,
    contextMessage: string,
    timestampDiff: string,
  ): string {
    const traceId = activeTraceId();
    const context = traceId ? `${contextMessage}trace=${traceId} ` : contextMessage;
    return super.formatMessage(
      logLevel,
      message,
      pidMessage,
      formattedLogLevel,
      context,
      timestampDiff,
    );
  }
}
