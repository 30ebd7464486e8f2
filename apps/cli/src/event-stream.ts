import WebSocket from 'ws';
import { DroverApiError, DroverNetworkError, type StreamEvent } from '@drover/client';
import { parseJson } from './errors';

export interface StreamHandlers {
  /** Each event, in sequence order. */
  onEvent(event: StreamEvent): void;
  /**
   * Called when a connection is up (the first and each reconnection): what
   * happened while it was down may not be replayed, so read the state again.
   */
  onOpen?(): void;
}

/** Consecutive failed connections before the stream counts as lost. */
const MAX_FAILURES = 30;

/**
 * A ticket's WebSocket event stream that reconnects with the last sequence it
 * saw until `close()`. `ended` rejects when the API refuses it (4xx: DroverApiError)
 * or cannot be reached for long (DroverNetworkError).
 */
export class EventStream {
  readonly ended: Promise<void>;
  private ws?: WebSocket;
  private closed = false;
  private last: number | undefined;
  private wake?: () => void;

  constructor(
    private readonly url: URL,
    private readonly headers: Record<string, string>,
    private readonly handlers: StreamHandlers,
    since?: number,
  ) {
    this.last = since;
    this.ended = this.run();
    // Callers that never await `ended` must not see an unhandled rejection.
    this.ended.catch(() => undefined);
  }

  close(): void {
    this.closed = true;
    this.ws?.close();
    this.wake?.();
  }

  private async run(): Promise<void> {
    for (let failures = 0; !this.closed;) {
      const { opened, refused } = await this.connect();
      if (this.closed) return;
      if (refused) throw refused;
      failures = opened ? 0 : failures + 1;
      if (failures >= MAX_FAILURES) {
        throw new DroverNetworkError(`lost the event stream at ${this.url.origin}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(5000, 250 * 2 ** Math.min(failures, 4)));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  private connect(): Promise<{ opened: boolean; refused?: DroverApiError }> {
    const url = new URL(this.url);
    if (this.last !== undefined) url.searchParams.set('since', String(this.last));
    return new Promise((resolve) => {
      const ws = new WebSocket(url, { headers: this.headers });
      this.ws = ws;
      let opened = false;
      let refused: DroverApiError | undefined;
      ws.on('open', () => {
        opened = true;
        this.handlers.onOpen?.();
      });
      ws.on('message', (raw) => this.receive(raw as Buffer));
      // A refused handshake answers in the API's error shape; 4xx will not pass by retrying.
      ws.on('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          if (status >= 400 && status < 500 && status !== 429) {
            refused = DroverApiError.fromAnswer(status, parseJson(text) ?? text);
          }
          ws.terminate();
        });
      });
      ws.on('close', () => resolve({ opened, refused }));
      ws.on('error', () => undefined);
    });
  }

  private receive(raw: Buffer): void {
    const event = parseJson(raw.toString('utf8')) as StreamEvent | undefined;
    if (!event || typeof event.seq !== 'number' || this.closed) return;
    this.last = event.seq;
    this.handlers.onEvent(event);
  }
}
