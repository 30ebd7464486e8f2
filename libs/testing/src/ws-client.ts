import WebSocket, { type RawData } from 'ws';
import { z } from 'zod';
import {
  ArtifactStored,
  LogAppended,
  RunChanged,
  RunnerChanged,
  TaskChanged,
  TaskWaitingChanged,
  TicketChanged,
  type PublicEventType,
  type StreamEvent,
  type TicketStatus,
} from '@drover/contracts';

const frame = {
  seq: z.number().int().positive(),
  occurredAt: z.iso.datetime(),
  ticketId: z.uuid().nullable(),
};

/** One event frame of the `/events` stream, validated against the public contract. */
export const EventFrame = z.discriminatedUnion('type', [
  z.object({ ...frame, type: z.literal('ticket.changed'), data: TicketChanged }).strict(),
  z.object({ ...frame, type: z.literal('task.changed'), data: TaskChanged }).strict(),
  z.object({ ...frame, type: z.literal('task.waiting'), data: TaskWaitingChanged }).strict(),
  z.object({ ...frame, type: z.literal('run.changed'), data: RunChanged }).strict(),
  z.object({ ...frame, type: z.literal('runner.changed'), data: RunnerChanged }).strict(),
  z.object({ ...frame, type: z.literal('log.appended'), data: LogAppended }).strict(),
  z.object({ ...frame, type: z.literal('artifact.stored'), data: ArtifactStored }).strict(),
]);

/** Fails to compile if a validated frame stops being a contract `StreamEvent`. */
type AssertStreamEvent<T extends StreamEvent> = T;
/** A received event; `type` narrows `data`. */
export type ReceivedEvent = AssertStreamEvent<z.infer<typeof EventFrame>>;
/** Fails to compile if the stream gains an event type this client does not validate. */
type AssertAllTypes<T extends ReceivedEvent['type']> = T;
export type EventType = AssertAllTypes<PublicEventType>;

const ControlFrame = z.discriminatedUnion('type', [
  z.object({ type: z.literal('pong'), head: z.number().int().nonnegative() }),
  z.object({ type: z.literal('error'), message: z.string() }),
]);

type Probe<T> = (events: readonly ReceivedEvent[]) => T | undefined | false;

/** True for the `ticket.changed` event that moves the ticket to `status`. */
export function ticketBecame(status: TicketStatus): (event: ReceivedEvent) => boolean {
  return (event) => event.type === 'ticket.changed' && event.data.status === status;
}

/** A short description of an event list, for error messages. */
export function describeEvents(events: readonly ReceivedEvent[], max = 60): string {
  const shown = events.slice(-max).map((e) => {
    switch (e.type) {
      case 'ticket.changed':
        return `${e.seq}:ticket=${e.data.status}`;
      case 'task.changed':
        return `${e.seq}:task ${e.data.key}=${e.data.status}`;
      case 'task.waiting':
        return `${e.seq}:task ${e.data.key} waits=${e.data.waiting?.reason ?? 'no more'}`;
      case 'run.changed':
        return `${e.seq}:run=${e.data.status}`;
      case 'runner.changed':
        return `${e.seq}:runner=${e.data.status}`;
      case 'log.appended':
        return `${e.seq}:log+${e.data.lines.length}`;
      case 'artifact.stored':
        return `${e.seq}:artifact ${e.data.name}`;
    }
  });
  const skipped = events.length > max ? `(${events.length - max} earlier) ` : '';
  return `${events.length} events: ${skipped}${shown.join(', ')}`;
}

/**
 * A client of the gateway's `/events` WebSocket that records every event it
 * receives, in arrival order, and lets a test wait for a condition on them.
 */
export class EventStreamClient {
  /** Every event received, in arrival order. */
  readonly events: ReceivedEvent[] = [];
  /** Frames that were not valid events, error frames and socket errors. */
  readonly problems: string[] = [];
  private readonly waiters = new Set<() => void>();
  private closeInfo: { code: number; reason: string } | undefined;
  private readonly closed: Promise<void>;

  private constructor(
    private readonly ws: WebSocket,
    readonly url: string,
  ) {
    ws.on('message', (raw, isBinary) => this.receive(raw, isBinary));
    ws.on('error', (error) => this.problems.push(`socket error: ${error.message}`));
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.notify();
        resolve();
      });
    });
  }

  /** Opens the stream; rejects with the status and body if the upgrade is refused. */
  static connect(url: string, apiKey: string, timeoutMs = 10_000): Promise<EventStreamClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { authorization: `Bearer ${apiKey}` } });
      const client = new EventStreamClient(ws, url);
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`no WebSocket connection to ${url} within ${timeoutMs} ms`));
      }, timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve(client);
      });
      ws.once('unexpected-response', (req, res) => {
        clearTimeout(timer);
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          req.destroy();
          const body = Buffer.concat(chunks).toString('utf8');
          reject(new Error(`WebSocket upgrade refused with ${res.statusCode ?? '?'}: ${body}`));
        });
      });
      ws.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  /** The highest sequence received (0 before any event). */
  lastSeq(): number {
    return this.events.reduce((max, e) => Math.max(max, e.seq), 0);
  }

  seqs(): number[] {
    return this.events.map((e) => e.seq);
  }

  isClosed(): boolean {
    return this.closeInfo !== undefined;
  }

  /**
   * Resolves with the first value other than undefined/false that `probe` returns
   * on the events received so far; rejects on timeout or if the stream closes first.
   */
  waitUntil<T>(probe: Probe<T>, what: string, timeoutMs = 30_000): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      const fail = (reason: string) => {
        finish();
        reject(
          new Error(`${reason} waiting for ${what} on ${this.url}; ${describeEvents(this.events)}`),
        );
      };
      const check = () => {
        let value: T | undefined | false;
        try {
          value = probe(this.events);
        } catch (error) {
          fail(`probe threw ${String(error)}`);
          return;
        }
        if (value !== undefined && value !== false) {
          finish();
          resolve(value);
        } else if (this.closeInfo) {
          fail(`stream closed (${this.closeInfo.code} ${this.closeInfo.reason})`);
        }
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** The first received event matching `predicate`, once there is one. */
  waitForEvent(
    predicate: (event: ReceivedEvent) => boolean,
    what: string,
    timeoutMs = 30_000,
  ): Promise<ReceivedEvent> {
    return this.waitUntil((events) => events.find(predicate), what, timeoutMs);
  }

  /** Closes the socket normally and resolves once it is closed. */
  async close(): Promise<void> {
    if (!this.closeInfo && this.ws.readyState !== WebSocket.CLOSING) this.ws.close(1000, 'done');
    const timer = setTimeout(() => this.ws.terminate(), 5000);
    await this.closed;
    clearTimeout(timer);
  }

  private receive(raw: RawData, isBinary: boolean): void {
    const text = isBinary ? undefined : rawText(raw);
    let json: unknown;
    try {
      json = text === undefined ? undefined : (JSON.parse(text) as unknown);
    } catch {
      json = undefined;
    }
    const event = EventFrame.safeParse(json);
    if (event.success) {
      this.events.push(event.data);
    } else {
      const control = ControlFrame.safeParse(json);
      if (!control.success) {
        this.problems.push(`invalid frame ${text ?? '(binary)'}: ${event.error.message}`);
      } else if (control.data.type === 'error') {
        this.problems.push(`error frame: ${control.data.message}`);
      }
    }
    this.notify();
  }

  private notify(): void {
    for (const check of [...this.waiters]) check();
  }
}

function rawText(raw: RawData): string {
  if (Array.isArray(raw)) return Buffer.concat(raw).toString('utf8');
  if (Buffer.isBuffer(raw)) return raw.toString('utf8');
  return Buffer.from(raw).toString('utf8');
}
