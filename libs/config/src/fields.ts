import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';

const url = (protocols: RegExp, fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((value) => URL.canParse(value) && protocols.test(new URL(value).protocol), {
      message: `must be a URL (${protocols.source.replace(/[\^$()]/g, '')})`,
    });

/** Integer from an environment string, within bounds. */
export const intVar = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(fallback);

export const boolVar = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');

const SECRETS_KEY_BYTES = 32;

/**
 * DROVER_SECRETS_KEY: the key secret task env values are sealed with (orchestrator)
 * and opened with (runners), 32 bytes as base64 (`openssl rand -base64 32`) or hex.
 * Unset: tickets with secrets are refused and runners cannot open them.
 */
export const secretsKeyVar = z
  .string()
  .optional()
  .transform((raw, ctx) => {
    if (raw === undefined) return undefined;
    const trimmed = raw.trim();
    const key = /^[0-9a-fA-F]+$/.test(trimmed)
      ? Buffer.from(trimmed, 'hex')
      : /^[A-Za-z0-9+/_-]+={0,2}$/.test(trimmed)
        ? Buffer.from(trimmed, 'base64')
        : undefined;
    if (key?.length !== SECRETS_KEY_BYTES) {
      ctx.addIssue({
        code: 'custom',
        message: `must be ${SECRETS_KEY_BYTES} bytes as base64 (44 characters, e.g. from \`openssl rand -base64 32\`) or hex (64 characters)`,
      });
      return z.NEVER;
    }
    return key;
  });

const otlpProtocol = z.enum(['http/protobuf', 'http/json', 'grpc']).optional();

/**
 * Tracing. Without an endpoint, trace context still crosses every hop; nothing is
 * exported. The OpenTelemetry SDK reads these itself (and the other OTEL_*
 * variables); they are checked here so that a bad one stops the service at boot.
 */
export const TelemetryConfigSchema = z.object({
  OTEL_SERVICE_NAME: z.string().optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol,
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol,
  /** How long (ms) finished spans wait to be exported in a batch; unset, the SDK's 5000. */
  OTEL_BSP_SCHEDULE_DELAY: z.coerce.number().int().min(0).max(3_600_000).optional(),
  OTEL_SDK_DISABLED: boolVar(false),
});
export type TelemetryConfig = z.output<typeof TelemetryConfigSchema>;

/** Settings every Drover service shares. Defaults point at services on localhost. */
export const CommonConfigSchema = TelemetryConfigSchema.extend({
  DATABASE_URL: url(/^postgres(ql)?:$/, 'postgresql://postgres@127.0.0.1:5432/drover'),
  NATS_URL: url(/^(nats|tls|ws|wss):$/, 'nats://127.0.0.1:4222'),
  REDIS_URL: url(/^rediss?:$/, 'redis://127.0.0.1:6379'),
  /** Prepended to every NATS subject and stream: isolates environments sharing a broker. */
  DROVER_SUBJECT_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]*$/, 'letters, digits, "_" and "-" only')
    .default(''),
  DROVER_REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:-]+$/)
    .default('drover'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'log', 'debug', 'verbose']).default('log'),
  LOG_FORMAT: z.enum(['json', 'text']).default('text'),
  /** Interface the services without an HTTP API serve `GET /metrics` on (their *_METRICS_PORT). */
  METRICS_HOST: z.string().default('127.0.0.1'),
  /** Outbox relay: how often to look for unpublished events when nothing kicks it. */
  DROVER_RELAY_POLL_MS: intVar(250, 10, 60_000),
  /**
   * Where run artifacts (diffs, logs, result.json) are kept: `file:///abs/dir`, or
   * `s3://bucket/prefix?endpoint=...&region=...` (credentials from the AWS chain).
   * Runners write there and the gateway reads, so they must share it.
   */
  DROVER_ARTIFACTS: z
    .string()
    .min(1)
    .default(pathToFileURL(join(tmpdir(), 'drover-artifacts')).href),
});
export type CommonConfig = z.output<typeof CommonConfigSchema>;
