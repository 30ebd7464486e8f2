import { stripVTControlCharacters } from 'node:util';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { initTelemetry, shutdownTelemetry, tracer } from '@drover/telemetry';
import { createLogger } from './bootstrap';

/** What `write` wrote to stdout, one entry per line, without colours. */
function captureStdout(write: () => void): string[] {
  const lines: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    lines.push(stripVTControlCharacters(String(chunk)));
    return true;
  });
  try {
    write();
  } finally {
    spy.mockRestore();
  }
  return lines;
}

/** Runs `fn` in a new active span; returns the span's trace id. */
function inSpan(fn: () => void): string {
  return tracer().startActiveSpan('logging in a test', (span) => {
    fn();
    span.end();
    return span.spanContext().traceId;
  });
}

describe('TracedLogger', () => {
  beforeAll(() =>
    initTelemetry({ serviceName: 'logger-test', exporter: new InMemorySpanExporter(), env: {} }),
  );
  afterAll(() => shutdownTelemetry());

  it('puts the active trace id after the context of a text line', () => {
    const logger = createLogger('svc', { LOG_LEVEL: 'log', LOG_FORMAT: 'text' });
    let traceId = '';
    const [line] = captureStdout(() => {
      traceId = inSpan(() => logger.log('run r1 started', 'RunnerService'));
    });
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(line).toContain(`[RunnerService] trace=${traceId} run r1 started`);
  });

  it('adds traceId to a JSON line', () => {
    const logger = createLogger('svc', { LOG_LEVEL: 'log', LOG_FORMAT: 'json' });
    let traceId = '';
    const [line] = captureStdout(() => {
      traceId = inSpan(() => logger.warn('slow', 'RunnerService'));
    });
    expect(JSON.parse(line)).toMatchObject({ level: 'warn', message: 'slow', traceId });
  });

  it('writes no trace outside a span', () => {
    const text = createLogger('svc', { LOG_LEVEL: 'log', LOG_FORMAT: 'text' });
    const json = createLogger('svc', { LOG_LEVEL: 'log', LOG_FORMAT: 'json' });
    const lines = captureStdout(() => {
      text.log('idle', 'Relay');
      json.log('idle', 'Relay');
    });
    expect(lines[0]).toContain('[Relay] idle');
    expect(lines[0]).not.toContain('trace=');
    expect(JSON.parse(lines[1])).not.toHaveProperty('traceId');
  });
});
