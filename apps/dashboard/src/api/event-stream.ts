import type { PublicEventType, StreamEvent as ContractEvent } from '@drover/contracts/api';
import { createEventToken } from './client';
import { ApiError, eventsUrl } from './http';

/** One event of the stream, narrowed by its `type` (`event.data` follows it). */
export type StreamEvent = { [T in PublicEventType]: ContractEvent<T> }[PublicEventType];

/** Whether events flow: `reconnecting` after a drop, `stopped` once the key was withdrawn. */
export type StreamState = 'connecting' | 'open' | 'reconnecting' | 'stopped';

export interface StreamHandlers {
  /** Each event once, in sequence order, across reconnections. */
  onEvent(event: StreamEvent): void;
  onState(state: StreamState): void;
  /**
   * The stream reopened without a sequence to resume from (it dropped before
   * learning one): what happened meanwhile may be missing, so read the state again.
   */
  onResync(): void;
  /** The gateway withdrew the key (revoked or expired): the stream stops for good. */
  onWithdrawn(message: string): void;
}

/** Close code of a stream whose key was revoked or expired (the gateway's KEY_WITHDRAWN). */
const KEY_WITHDRAWN = 4401;
const PING_EVERY_MS = 25_000;

/** Backoff before the next attempt after `failures` failed ones: 0.25 s doubling to 5 s. */
export function reconnectDelay(failures: number): number {
  return Math.min(5000, 250 * 2 ** Math.min(failures, 5));
}

/**
 * The project's event stream: `POST /events/token`, then
 * `ws(s)://<host>/events?token=...&since=<last seq>`. After a drop it reconnects
 * with the last sequence it delivered, so nothing is lost, and it never delivers
 * a sequence twice.
 */
export class EventStream {
  private ws: WebSocket | undefined;
  private stopped = false;
  private last: number | undefined;
  private failures = 0;
  private openedOnce = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly handlers: StreamHandlers) {
    void this.connect();
  }

  /** The last sequence delivered. */
  get lastSeq(): number | undefined {
    return this.last;
  }

  close(): void {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.ws?.close(1000, 'closed by the dashboard');
    this.handlers.onState('stopped');
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.handlers.onState(this.openedOnce ? 'reconnecting' : 'connecting');
    let token: string;
    try {
      token = (await createEventToken()).token;
    } catch (error) {
      // A refused key has already ended the session (the request layer saw the 401).
      if (error instanceof ApiError && error.status === 401) {
        this.stop('the API key was refused');
        return;
      }
      this.retry();
      return;
    }
    if (this.stopped) return;
    const resumed = this.last !== undefined;
    const ws = new WebSocket(eventsUrl(token, this.last));
    this.ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.failures = 0;
      this.handlers.onState('open');
      // Without `since` the stream starts at the gateway's head: ask for it, so that
      // a drop before the first event still resumes from there.
      if (!resumed) ws.send(JSON.stringify({ op: 'ping' }));
      if (this.openedOnce && !resumed) this.handlers.onResync();
      this.openedOnce = true;
      this.pingTimer = setInterval(() => {
        if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ op: 'ping' }));
      }, PING_EVERY_MS);
    };
    ws.onmessage = (message: MessageEvent<unknown>) => this.receive(message.data, resumed);
    ws.onclose = (event: CloseEvent) => {
      clearInterval(this.pingTimer);
      if (this.ws !== ws || this.stopped) return;
      if (event.code === KEY_WITHDRAWN) {
        this.stop(event.reason || 'the API key was revoked or has expired');
        return;
      }
      if (!opened) this.failures += 1;
      this.retry();
    };
  }

  private receive(data: unknown, resumed: boolean): void {
    if (typeof data !== 'string') return;
    let frame: { type?: unknown; seq?: unknown; head?: unknown };
    try {
      frame = JSON.parse(data) as typeof frame;
    } catch {
      return;
    }
    if (frame.type === 'pong') {
      // Every event up to `head` was sent before the pong (a live stream: not `resumed`).
      if (!resumed && this.last === undefined && typeof frame.head === 'number') {
        this.last = frame.head;
      }
      return;
    }
    if (typeof frame.seq !== 'number') return;
    if (this.last !== undefined && frame.seq <= this.last) return;
    this.last = frame.seq;
    this.handlers.onEvent(frame as StreamEvent);
  }

  private retry(): void {
    if (this.stopped) return;
    this.handlers.onState('reconnecting');
    this.retryTimer = setTimeout(() => void this.connect(), reconnectDelay(this.failures));
  }

  private stop(message: string): void {
    this.stopped = true;
    clearInterval(this.pingTimer);
    this.handlers.onState('stopped');
    this.handlers.onWithdrawn(message);
  }
}
