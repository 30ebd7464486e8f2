import { gunzipSync, gzipSync } from 'node:zlib';
import { headers as natsHeaders, JSONCodec, type Msg, type MsgHdrs } from 'nats';
import type { z } from 'zod';
import { EnvelopeSchema, toIssues, type Envelope } from '@drover/contracts';

const codec = JSONCodec<unknown>();

// Bodies above this size travel gzip-compressed (a 10,000-task ticket is ~1 MB of
// JSON, NATS's default max payload), marked by a header.
const COMPRESS_ABOVE = 64 * 1024;
const ENCODING_HEADER = 'Drover-Encoding';

/** The bytes of an envelope; sets the encoding header when it compresses. */
export function encode(envelope: unknown, headers: MsgHdrs): Uint8Array {
  const body = codec.encode(envelope);
  if (body.length <= COMPRESS_ABOVE) return body;
  headers.set(ENCODING_HEADER, 'gzip');
  return gzipSync(body);
}

export function respond(msg: Msg, envelope: unknown): void {
  const headers = natsHeaders();
  msg.respond(encode(envelope, headers), { headers });
}

export type Decoded<T> = { ok: true; envelope: Envelope<T> } | { ok: false; reason: string };

/** Decodes and validates a message: JSON, then the envelope, then `data` against `schema`. */
export function decodeEnvelope<S extends z.ZodType>(
  msg: { data: Uint8Array; headers?: MsgHdrs },
  schema: S,
): Decoded<z.output<S>> {
  let json: unknown;
  try {
    const gzipped = msg.headers?.get(ENCODING_HEADER) === 'gzip';
    json = codec.decode(gzipped ? gunzipSync(msg.data) : msg.data);
  } catch {
    return { ok: false, reason: 'body is not JSON' };
  }
  const envelope = EnvelopeSchema.safeParse(json);
  if (!envelope.success) return { ok: false, reason: describe(envelope.error) };
  const data = schema.safeParse(envelope.data.data);
  if (!data.success) return { ok: false, reason: describe(data.error, 'data') };
  return { ok: true, envelope: { ...envelope.data, data: data.data } };
}

function describe(error: z.ZodError, root?: string): string {
  return toIssues(error)
    .map((i) => `${root ? `${root}.` : ''}${i.path}: ${i.message}`)
    .join('; ');
}
