// The vocabulary of the hostile-input suite: input classes, cases, expectations, outcomes.

/** Every kind of input the suite sends; each case carries one, and the summary counts them. */
export const INPUT_CLASSES = [
  'valid',
  'wrong-type',
  'missing-required',
  'unknown-field',
  'proto-keys',
  'huge-string',
  'huge-array',
  'deep-nesting',
  'control-chars',
  'invalid-utf8',
  'malformed-json',
  'content-type',
  'numeric-overflow',
  'path-injection',
  'query-injection',
  'header-injection',
  // the hand-written corpus
  'graph',
  'limits',
  'shell-metachars',
  'artifact-traversal',
  'idempotency',
  'encoding',
  'document',
  'websocket',
  // keys: who may call at all (the corpus in auth-corpus.ts), whose objects (generated)
  'auth',
  'foreign-id',
] as const;
export type InputClass = (typeof INPUT_CLASSES)[number];

/** A JSON value, as bodies are built before they are serialised. */
export type Json = null | boolean | number | string | Json[] | JsonObject;
export interface JsonObject {
  [key: string]: Json;
}

/**
 * What a request must get. A valid one: exactly one of `statuses`. An invalid one: a
 * 4xx (one of `statuses` when given) whose error details name `field` when given.
 */
export type Expect =
  | { kind: 'valid'; statuses: readonly number[] }
  | { kind: 'invalid'; statuses?: readonly number[]; field?: string };

export const valid = (...statuses: number[]): Expect => ({ kind: 'valid', statuses });
export const invalid = (statuses?: number[], field?: string): Expect => ({
  kind: 'invalid',
  ...(statuses ? { statuses } : {}),
  ...(field ? { field } : {}),
});

export interface HttpRequest {
  method: string;
  /** Sent exactly as written (already percent-encoded where wanted), never normalised. */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/**
 * How a case travels: through node:http, or as exact bytes on a socket (what http
 * refuses). The sender adds the suite's key unless the request names an
 * `Authorization` header of its own or is `anonymous` (sent without any).
 */
export type Wire =
  | { kind: 'http'; request: HttpRequest; anonymous?: boolean }
  | { kind: 'raw'; bytes: Buffer; anonymous?: boolean };

export interface Case {
  /** The operation as the OpenAPI document names it: `GET /tickets/{id}`. */
  endpoint: string;
  cls: InputClass;
  /** One line saying what is hostile (or not) about it. */
  what: string;
  wire: Wire;
  expect: Expect;
  timeoutMs?: number;
}

/** An answer (status and the start of its body), or why there was none. */
export type Outcome = { status: number; body: string } | { failure: string };

export const JSON_TYPE = { 'content-type': 'application/json' };

/** A request through node:http; a body (bytes, or JSON to serialise) goes as application/json. */
export function http(
  method: string,
  path: string,
  body?: Buffer | Json,
  headers: Record<string, string> = {},
): Wire {
  const bytes =
    body === undefined || Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
  return {
    kind: 'http',
    request: {
      method,
      path,
      headers: bytes ? { ...JSON_TYPE, ...headers } : headers,
      ...(bytes ? { body: bytes } : {}),
    },
  };
}
