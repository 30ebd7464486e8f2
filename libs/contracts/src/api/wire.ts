import { z } from 'zod';

/**
 * A moment: ISO 8601 text in UTC on the wire (`2026-01-01T12:00:00.000Z`), a
 * `Date` where the gateway builds a body (JSON.stringify writes it as that text).
 */
export const Timestamp = z.codec(z.iso.datetime(), z.date(), {
  decode: (text) => new Date(text),
  encode: (date) => date.toISOString(),
});

/**
 * A response body as it travels, and as clients read it: `z.input` of its
 * schema (timestamps as ISO 8601 text). Every exported body type is this.
 */
export type Json<S extends z.ZodType> = z.input<S>;

/** A response body as the gateway builds it: `z.output` of its schema (timestamps as `Date`). */
export type Served<S extends z.ZodType> = z.output<S>;

/** A JSON object whose shape the API does not fix (a task's spec, a run's result). */
export const JsonObject = z.record(z.string(), z.unknown());
export type JsonObject = z.infer<typeof JsonObject>;

export const Count = z.number().int().nonnegative();
