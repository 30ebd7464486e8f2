import WebSocket from 'ws';
import type { StreamEvent } from '@drover/contracts';

/** An error the API answered with, shown to the user as the API stated it. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    const error = (
      body as { error?: { message?: string; details?: { path: string; message: string }[] } }
    )?.error;
    const details = error?.details?.map((d) => `\n  - ${d.path}: ${d.message}`).join('') ?? '';
    super(`${status}: ${error?.message ?? JSON.stringify(body)}${details}`);
  }
}

export class DroverApi {
  constructor(
    readonly baseUrl: string,
    private readonly apiKey?: string,
  ) {}

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<T> {
    const res = await this.send(method, path, body, extraHeaders);
    const text = await res.text();
    const parsed: unknown = text ? safeJson(text) : null;
    if (!res.ok) throw new ApiError(res.status, parsed ?? text);
    return parsed as T;
  }

  /** GETs content that is not JSON (an artifact, a diff); the body is left to the caller. */
  async download(path: string): Promise<{ body: ReadableStream<Uint8Array>; size: number | null }> {
    const res = await this.send('GET', path);
    if (!res.ok) {
      const text = await res.text();
      throw new ApiError(res.status, (text ? safeJson(text) : null) ?? text);
    }
    const length = res.headers.get('content-length');
    return {
      body: res.body ?? new Blob([]).stream(),
      size: length === null ? null : Number(length),
    };
  }

  private async send(
    method: string,
    path: string,
    body?: unknown,
    extraHeaders: Record<string, string> = {},
  ): Promise<Response> {
    try {
      return await fetch(new URL(path, this.baseUrl), {
        method,
        headers: {
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {}),
          ...extraHeaders,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      throw new Error(
        `cannot reach the Drover API at ${this.baseUrl}: ${(error as Error).message}`,
      );
    }
  }

  /**
   * Streams a ticket's events from `since`, reconnecting with the last sequence
   * seen if the connection drops, until `onEvent` returns true.
   */
  async follow(
    ticketId: string,
    onEvent: (event: StreamEvent) => boolean,
    since = 0,
  ): Promise<void> {
    let last = since;
    for (let attempt = 0; ; attempt++) {
      const done = await new Promise<boolean>((resolve) => {
        const url = new URL(`/events?ticket=${ticketId}&since=${last}`, this.baseUrl);
        url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
        const ws = new WebSocket(url, {
          headers: this.apiKey ? { authorization: `Bearer ${this.apiKey}` } : {},
        });
        let finished = false;
        ws.on('message', (raw) => {
          const event = safeJson((raw as Buffer).toString('utf8')) as StreamEvent | undefined;
          if (!event || typeof event.seq !== 'number') return;
          last = event.seq;
          attempt = 0;
          if (onEvent(event)) {
            finished = true;
            ws.close();
          }
        });
        ws.on('close', () => resolve(finished));
        ws.on('error', () => undefined);
      });
      if (done) return;
      if (attempt >= 30) throw new Error(`lost the event stream of ticket ${ticketId}`);
      await new Promise((r) => setTimeout(r, Math.min(5000, 250 * 2 ** Math.min(attempt, 4))));
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
