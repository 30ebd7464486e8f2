import { ApiError, parseJson, UnreachableError } from './errors';
import { EventStream, type StreamHandlers } from './event-stream';

export class DroverApi {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey?: string,
    /** DROVER_DASHBOARD_URL, when set. */
    readonly dashboardUrl?: string,
  ) {}

  /** Where a ticket or experiment is shown: the API's URL, and the dashboard's when there is one. */
  linksTo(kind: 'tickets' | 'experiments', id: string): { url: string; dashboardUrl?: string } {
    const at = (base: string) =>
      new URL(`${kind}/${id}`, base.endsWith('/') ? base : `${base}/`).toString();
    return {
      url: at(this.baseUrl),
      ...(this.dashboardUrl ? { dashboardUrl: at(this.dashboardUrl) } : {}),
    };
  }

  /** Sends `body` as JSON, or as multipart/form-data when it is a FormData. */
  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<T> {
    const res = await this.send(method, path, body, extraHeaders);
    const text = await res.text();
    const parsed: unknown = text ? parseJson(text) : null;
    if (!res.ok) throw new ApiError(res.status, parsed ?? text);
    return parsed as T;
  }

  /** GETs content that is not JSON (an artifact, a diff); the body is left to the caller. */
  async download(path: string): Promise<{ body: ReadableStream<Uint8Array>; size: number | null }> {
    const res = await this.send('GET', path);
    if (!res.ok) {
      const text = await res.text();
      throw new ApiError(res.status, (text ? parseJson(text) : null) ?? text);
    }
    const length = res.headers.get('content-length');
    return {
      body: res.body ?? new Blob([]).stream(),
      size: length === null ? null : Number(length),
    };
  }

  /**
   * Opens the event stream of one ticket: from `since` (0: its whole history),
   * or without it only what happens from now. It reconnects after a drop with
   * the last sequence seen; `close()` ends it.
   */
  events(ticketId: string, handlers: StreamHandlers, since?: number): EventStream {
    const url = new URL(`/events?ticket=${encodeURIComponent(ticketId)}`, this.baseUrl);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const headers: Record<string, string> = this.apiKey
      ? { authorization: `Bearer ${this.apiKey}` }
      : {};
    return new EventStream(url, headers, handlers, since);
  }

  private async send(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<Response> {
    const form = body instanceof FormData;
    try {
      return await fetch(new URL(path, this.baseUrl), {
        method,
        headers: {
          // fetch writes a form's content type itself (with its boundary).
          ...(body === undefined || form ? {} : { 'content-type': 'application/json' }),
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
          ...extraHeaders,
        },
        body: body === undefined ? undefined : form ? body : JSON.stringify(body),
      });
    } catch (error) {
      throw new UnreachableError(
        `cannot reach the Drover API at ${this.baseUrl}: ${(error as Error).message}`,
      );
    }
  }
}
