import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { GatewayConfig } from '@drover/config';
import { ClientFrame, PublicEvents, toIssues } from '@drover/contracts';
import { PrismaService } from '@drover/db';
import { EventLog, EventTail } from '@drover/events';
import { NatsBus } from '@drover/messaging';

export const HTTP_SERVER = Symbol('HTTP_SERVER');

const StreamQuery = z
  .object({
    since: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    ticket: z.uuid({ message: 'must be a ticket UUID' }).optional(),
  })
  .strict();

// A client this far behind is cut off; it reconnects with `since` and loses nothing.
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * `GET /events` upgraded to a WebSocket: typed events (ticket, task, run, runner
 * changes, log lines and stored artifacts: every `PublicEvents` type), optionally
 * of one ticket, each with its sequence. With
 * `since=<seq>` the client first receives every event after that sequence.
 */
@Injectable()
export class EventStreamServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(EventStreamServer.name);
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly tail: EventTail;

  constructor(
    prisma: PrismaService,
    private readonly bus: NatsBus,
    config: GatewayConfig,
    @Inject(HTTP_SERVER) private readonly server: () => Server,
  ) {
    this.tail = new EventTail(new EventLog(prisma), config.GATEWAY_EVENT_POLL_MS);
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.tail.start();
    for (const { subject } of Object.values(PublicEvents)) {
      this.bus.subscribe(subject, z.unknown(), () => Promise.resolve(this.tail.kick()));
    }
    this.server().on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== '/events') {
      reject(socket, 404, `no WebSocket endpoint at ${url.pathname}; use /events`);
      return;
    }
    const query = StreamQuery.safeParse(Object.fromEntries(url.searchParams));
    if (!query.success) {
      const issues = toIssues(query.error).map((i) => `query.${i.path}: ${i.message}`);
      reject(socket, 400, issues.join('; '));
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      void this.serve(ws, query.data.since, query.data.ticket);
    });
  }

  private async serve(ws: WebSocket, since: number | undefined, ticketId: string | undefined) {
    ws.on('message', (raw, isBinary) => {
      const frame = isBinary ? null : safeJson((raw as Buffer).toString('utf8'));
      const parsed = ClientFrame.safeParse(frame);
      if (!parsed.success) {
        ws.send(
          JSON.stringify({ type: 'error', message: 'unsupported frame; send {"op":"ping"}' }),
        );
        return;
      }
      ws.send(JSON.stringify({ type: 'pong', head: this.tail.currentHead() }));
    });
    let unsubscribe: (() => void) | undefined;
    let closed = false;
    ws.on('close', () => {
      closed = true;
      unsubscribe?.();
    });
    ws.on('error', (error) => this.logger.debug(`websocket error: ${error.message}`));
    try {
      unsubscribe = await this.tail.subscribe(
        {
          ticketId,
          send: (event) => {
            if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
              ws.close(1013, 'client too slow; reconnect with since=<last seq>');
              return;
            }
            ws.send(JSON.stringify(event));
          },
        },
        since,
      );
      if (closed) unsubscribe();
    } catch (error) {
      this.logger.error(`event stream failed: ${(error as Error).message}`);
      ws.close(1011, 'event stream failed; reconnect with since=<last seq>');
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    for (const client of this.wss.clients) client.close(1001, 'gateway shutting down');
    await this.tail.stop();
    this.wss.close();
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function reject(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({
    error: { code: status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST', message },
  });
  socket.end(
    `HTTP/1.1 ${status} ${status === 404 ? 'Not Found' : 'Bad Request'}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
