import { API_OPERATIONS, type OperationContract, type OperationId } from '@drover/contracts/api';
import { DroverApiError, DroverNetworkError } from './drover-api-error';

export interface DroverClientOptions {
  /**
   * The gateway's URL: `https://drover.example.com`; a path is kept
   * (`https://example.com/drover/tickets`). In a browser it may be a path alone
   * (`/api`), on the page's own origin.
   */
  baseUrl: string;
  /** A Drover API key, `drv_...`, sent as `Authorization: Bearer <key>`; none where a proxy adds it. */
  apiKey?: string;
  /** The `fetch` to send with (default: the global one: Node 20+, browsers). */
  fetch?: typeof fetch;
}

/** Content that is not JSON (an artifact, a diff), to stream or read once. */
export interface RawContent {
  /** The bytes, as they arrive. Read it once: this, or `text()`. */
  body: ReadableStream<Uint8Array>;
  /** Its length in bytes, when the API said (`Content-Length`). */
  size: number | null;
  /** Its media type, e.g. `text/x-diff; charset=utf-8`. */
  contentType: string | null;
  /** The whole content as text (UTF-8). */
  text(): Promise<string>;
}

/** A request: path parameters, query parameters (left out when undefined), a body. */
export interface Call {
  params?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
  /** Sent as JSON, or as it is when a FormData (multipart) or text (`contentType` says its type). */
  body?: unknown;
  contentType?: string;
  headers?: Record<string, string>;
}

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
};

/** Sends the operations of `API_OPERATIONS` and turns error answers into `DroverApiError`. */
export class Transport {
  private readonly fetch: typeof fetch;

  constructor(private readonly options: DroverClientOptions) {
    // Bound: a browser's fetch called as a method of another object throws.
    this.fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** `path` (and its query) under the base URL. */
  url(path: string, query: Call['query'] = {}): string {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined) search.set(name, String(value));
    }
    const qs = search.toString();
    return `${this.options.baseUrl.replace(/\/+$/, '')}${path}${qs ? `?${qs}` : ''}`;
  }

  /** Operation `id`'s JSON answer; statuses it answers with its own body count as success. */
  async json<T>(id: OperationId, call: Call = {}): Promise<T> {
    const res = await this.send(id, call);
    const text = await res.text();
    const parsed: unknown = text ? parseJson(text) : null;
    const contract: OperationContract = API_OPERATIONS[id];
    if (!res.ok && !contract.alsoFor?.includes(res.status)) {
      throw DroverApiError.fromAnswer(res.status, parsed ?? text, retryAfter(res));
    }
    return parsed as T;
  }

  /** Operation `id`'s content, unread. */
  async raw(id: OperationId, call: Call = {}): Promise<RawContent> {
    const res = await this.send(id, call);
    if (!res.ok) {
      const text = await res.text();
      throw DroverApiError.fromAnswer(
        res.status,
        (text ? parseJson(text) : null) ?? text,
        retryAfter(res),
      );
    }
    const length = res.headers.get('content-length');
    const body = res.body ?? new Blob([]).stream();
    return {
      body,
      size: length === null ? null : Number(length),
      contentType: res.headers.get('content-type'),
      text: () => new Response(body).text(),
    };
  }

  private async send(id: OperationId, call: Call): Promise<Response> {
    const { method, path } = API_OPERATIONS[id];
    const filled = path.replace(/\{(\w+)\}/g, (_, name: string) => {
      const value = call.params?.[name];
      if (value === undefined) throw new TypeError(`${id}: no value for {${name}}`);
      return encodeURIComponent(value);
    });
    const { body } = call;
    const asIs = body instanceof FormData || typeof body === 'string';
    const headers: Record<string, string> = {
      // fetch writes a form's content type itself (with its boundary).
      ...(body === undefined || body instanceof FormData
        ? {}
        : { 'content-type': call.contentType ?? 'application/json' }),
      ...(this.options.apiKey ? { authorization: `Bearer ${this.options.apiKey}` } : {}),
      ...call.headers,
    };
    const url = this.url(filled, call.query);
    try {
      return await this.fetch(url, {
        method,
        headers,
        body:
          body === undefined
            ? undefined
            : asIs
              ? (body as RequestInit['body'])
              : JSON.stringify(body),
      });
    } catch (error) {
      throw new DroverNetworkError(
        `cannot reach the Drover API at ${this.options.baseUrl}: ${(error as Error).message}`,
        { cause: error },
      );
    }
  }
}

/** `Retry-After` in seconds, when the answer gave it so. */
function retryAfter(res: Response): number | undefined {
  const value = res.headers.get('retry-after');
  return value !== null && /^\d+$/.test(value) ? Number(value) : undefined;
}
