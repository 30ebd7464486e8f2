import { STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import type { Counter } from 'prom-client';
import { WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import { GatewayConfig } from '@drover/config';
import { ClientFrame, PublicEvents, toIssues } from '@drover/contracts';
import { PrismaService } from '@drover/db';
import { EventLog, EventTail } from '@drover/events';
import { NatsBus } from '@drover/messaging';
import { ServiceMetrics } from '@drover/service-kit';
import { ApiKeys, type Caller } from '@drover/workflow';
import { ApiError } from './api-error';
import { Authenticator, unauthenticated } from './auth/authenticator';
import { EventTokens } from './auth/event-tokens';

export const HTTP_SERVER = Symbol('HTTP_SERVER');

const StreamQuery = z
  .object({
    since: z.coerce.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
    ticket: z.uuid({ message: 'must be a ticket UUID' }).optional(),
    /** From `POST /events/token`, for clients that cannot send an Authorization header. */
    token: z.string().max(100).optional(),
  })
  .strict();

// Flow control: above HIGH_WATER bytes not yet sent, a stream stops taking events;
// once its client has read it down to LOW_WATER, it is caught up from Postgres.
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const DRAIN_CHECK_MS = 20;

/** Close code for a key revoked or expired while its stream was open (4000 + HTTP 401). */
export const KEY_WITHDRAWN = 4401;

/**
 * `GET /events` upgraded to a WebSocket: typed events (ticket, task, run, runner
 * changes, log lines and stored artifacts: every `PublicEvents` type) of the
 * caller's project, optionally of one ticket, each with its sequence. With
 * `since=<seq>` the client first receives every event after that sequence.
 *
 * The handshake needs a key (an `Authorization` header, or a token from
 * `POST /events/token`) and, from a browser, an allowed origin. A stream is
 * closed with 4401 once its key is revoked or expires.
 */
@Injectable()
export class EventStreamServer implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(EventStreamServer.name);
  private readonly wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
  private readonly tail: EventTail;
  /** Open streams by the key that opened them, for the revocation check. */
  private readonly byKey = new Map<string, Set<WebSocket>>();
  private recheck?: NodeJS.Timeout;
  private readonly slowDropped: Counter;

  constructor(
    private readonly prisma: PrismaService,
    private readonly bus: NatsBus,
    private readonly config: GatewayConfig,
    private readonly authenticator: Authenticator,
    private readonly keys: ApiKeys,
    private readonly tokens: EventTokens,
    @Inject(HTTP_SERVER) private readonly server: () => Server,
    metrics: ServiceMetrics,
  ) {
    this.tail = new EventTail(new EventLog(prisma), config.GATEWAY_EVENT_POLL_MS);
    const wss = this.wss;
    metrics.gauge({
      name: 'drover_websocket_clients',
      help: 'Event streams (WebSocket clients) open on this gateway',
      collect() {
        this.set(wss.clients.size);
      },
    });
    this.slowDropped = metrics.counter({
      name: 'drover_websocket_slow_clients_dropped_total',
      help: 'Event streams closed because the client read too slowly (1013)',
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.tail.start();
    for (const { subject } of Object.values(PublicEvents)) {
      this.bus.subscribe(subject, z.unknown(), () => Promise.resolve(this.tail.kick()));
    }
    this.server().on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      this.upgrade(req, socket, head).catch((error: unknown) => {
        if (error instanceof ApiError) {
          reject(socket, error.status, error.code, error.message, error.retryAfterSeconds);
          return;
        }
        this.logger.error(`websocket handshake failed: ${(error as Error).message}`);
        reject(socket, 503, 'UNAVAILABLE', 'the event stream is unavailable; try again');
      });
    });
    this.recheck = setInterval(
      () => void this.closeWithdrawn(),
      this.config.GATEWAY_KEY_RECHECK_MS,
    );
  }

  private async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const query = StreamQuery.safeParse(Object.fromEntries(url.searchParams));
    const token = query.success ? query.data.token : undefined;
    const caller = await this.callerOf(req, token);
    this.checkOrigin(req);
    if (url.pathname !== '/events') {
      throw new ApiError(404, 'NOT_FOUND', `no WebSocket endpoint at ${url.pathname}; use /events`);
    }
    if (!query.success) {
      const issues = toIssues(query.error).map((i) => `query.${i.path}: ${i.message}`);
      throw new ApiError(400, 'BAD_REQUEST', issues.join('; '));
    }
    const ticketId = query.data.ticket;
    if (ticketId && !(await this.ownsTicket(caller, ticketId))) {
      throw new ApiError(404, 'NOT_FOUND', `no ticket with id ${ticketId}`);
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      void this.serve(ws, caller, query.data.since, ticketId);
    });
  }

  /** A browser's page must be on the gateway's own host or an allowed origin. */
  private checkOrigin(req: IncomingMessage): void {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    const allowed =
      this.config.GATEWAY_ALLOWED_ORIGINS.includes(origin) || sameHost(origin, req.headers.host);
    if (!allowed) {
      throw new ApiError(403, 'FORBIDDEN', `origin ${origin} may not open the event stream`);
    }
  }

  /** The caller of a handshake (header or token), charged one request; else 401. */
  private async callerOf(req: IncomingMessage, token: string | undefined): Promise<Caller> {
    let caller: Caller | null = null;
    if (req.headers.authorization !== undefined) {
      caller = await this.authenticator.callerOf(req);
    } else if (token !== undefined) {
      const keyId = await this.tokens.redeem(token);
      caller = keyId ? await this.keys.inForce(keyId) : null;
    }
    if (!caller) {
      await this.authenticator.charge(`ip:${req.socket.remoteAddress ?? 'unknown'}`);
      throw unauthenticated();
    }
    await this.authenticator.charge(`key:${caller.keyId}`);
    return caller;
  }

  private async ownsTicket(caller: Caller, ticketId: string): Promise<boolean> {
    const ticket = await this.prisma.ticket.findUnique({
      where: { id: ticketId, projectId: caller.projectId },
      select: { id: true },
    });
    return ticket !== null;
  }

  /** Closes the streams of keys revoked or expired since they opened. */
  private async closeWithdrawn(): Promise<void> {
    try {
      const gone = await this.keys.notInForce([...this.byKey.keys()]);
      for (const keyId of gone) {
        for (const ws of this.byKey.get(keyId) ?? []) {
          ws.close(KEY_WITHDRAWN, 'the API key was revoked or has expired');
        }
      }
    } catch (error) {
      this.logger.warn(`key re-check failed: ${(error as Error).message}`);
    }
  }

  private track(ws: WebSocket, caller: Caller): () => void {
    const open = this.byKey.get(caller.keyId) ?? new Set<WebSocket>();
    open.add(ws);
    this.byKey.set(caller.keyId, open);
    // Expiry needs no re-check: the stream closes when the key's time is up.
    const expiry = caller.expiresAt
      ? setTimeout(
          () => ws.close(KEY_WITHDRAWN, 'the API key has expired'),
          Math.min(caller.expiresAt.getTime() - Date.now(), 2 ** 31 - 1),
        )
      : undefined;
    return () => {
      clearTimeout(expiry);
      open.delete(ws);
      if (!open.size) this.byKey.delete(caller.keyId);
    };
  }

  private async serve(
    ws: WebSocket,
    caller: Caller,
    since: number | undefined,
    ticketId: string | undefined,
  ) {
    const untrack = this.track(ws, caller);
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
      untrack();
      unsubscribe?.();
    });
    ws.on('error', (error) => this.logger.debug(`websocket error: ${error.message}`));
    try {
      unsubscribe = await this.tail.subscribe(
        {
          projectId: caller.projectId,
          ticketId,
          send: ({ projectId: _whose, ...event }) => {
            if (ws.bufferedAmount > HIGH_WATER) return false;
            if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(event));
            return true;
          },
          drained: () => this.drained(ws),
          failed: (error) => {
            this.logger.error(`event stream failed: ${error.message}`);
            ws.close(1011, 'event stream failed; reconnect with since=<last seq>');
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

  /**
   * Resolves true once the client has read what was sent down to LOW_WATER;
   * false if the stream closed, or stayed full for GATEWAY_SLOW_CLIENT_MS (then
   * it is closed with 1013: the client reconnects with `since` and loses nothing).
   */
  private async drained(ws: WebSocket): Promise<boolean> {
    const deadline = Date.now() + this.config.GATEWAY_SLOW_CLIENT_MS;
    while (ws.readyState === WebSocket.OPEN) {
      if (ws.bufferedAmount <= LOW_WATER) return true;
      if (Date.now() >= deadline) {
        this.slowDropped.inc();
        ws.close(1013, 'client too slow; reconnect with since=<last seq>');
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, DRAIN_CHECK_MS));
    }
    return false;
  }

  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.recheck);
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

/** True when `origin` (scheme://host[:port]) names the host the request was sent to. */
function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

/** Answers a refused handshake over the raw socket, in the API's error shape. */
function reject(
  socket: Duplex,
  status: number,
  code: string,
  message: string,
  retryAfterSeconds?: number,
): void {
  const body = JSON.stringify({ error: { code, message } });
  const extra =
    (status === 401 ? 'WWW-Authenticate: Bearer\r\n' : '') +
    (retryAfterSeconds !== undefined ? `Retry-After: ${retryAfterSeconds}\r\n` : '');
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n${extra}` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
