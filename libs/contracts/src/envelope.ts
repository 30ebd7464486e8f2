import { randomUUID } from 'node:crypto';
import { z } from 'zod';

/** The wrapper every NATS message travels in. */
export const EnvelopeSchema = z.object({
  id: z.uuid(),
  /** The subject without its version suffix, e.g. `drover.runner.run.finished`. */
  type: z.string().min(1),
  version: z.number().int().positive(),
  occurredAt: z.iso.datetime(),
  correlationId: z.string().min(1),
  data: z.unknown(),
});

export type Envelope<T = unknown> = Omit<z.infer<typeof EnvelopeSchema>, 'data'> & { data: T };

// Tokens after the version route a message (a project's work pool, see
// `workSubject`); they are not part of its type.
const versioned = /^(.*?)\.v(\d+)(?:\.[^.]+)*$/;

/** Splits `drover.a.b.c.v1` (or `drover.a.b.c.v1.<routing tokens>`) into its type and version. */
export function parseSubject(subject: string): { type: string; version: number } {
  const match = versioned.exec(subject);
  if (!match) throw new Error(`subject "${subject}" has no version suffix`);
  return { type: match[1], version: Number(match[2]) };
}

export function createEnvelope<T>(
  subject: string,
  data: T,
  opts: { correlationId?: string; id?: string; occurredAt?: Date } = {},
): Envelope<T> {
  const { type, version } = parseSubject(subject);
  const id = opts.id ?? randomUUID();
  return {
    id,
    type,
    version,
    occurredAt: (opts.occurredAt ?? new Date()).toISOString(),
    correlationId: opts.correlationId ?? id,
    data,
  };
}
