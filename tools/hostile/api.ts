// The calls the suite makes to set itself up (projects, keys, the seed tickets): JSON in
// and out with one key, each expected to succeed.
import { z } from 'zod';

export const KeyIssued = z.object({ id: z.uuid(), key: z.string() });

export class Api {
  constructor(
    readonly url: string,
    readonly key: string,
  ) {}

  /** The same gateway with another key. */
  as(key: string): Api {
    return new Api(this.url, key);
  }

  get<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    return this.call('GET', path, schema);
  }

  post<S extends z.ZodType>(path: string, schema: S, body?: unknown): Promise<z.output<S>> {
    return this.call('POST', path, schema, body);
  }

  delete<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    return this.call('DELETE', path, schema);
  }

  private async call<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    body?: unknown,
  ): Promise<z.output<S>> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
    return schema.parse(JSON.parse(text));
  }
}
