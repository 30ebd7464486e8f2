import { Logger } from '@nestjs/common';
import {
  AckPolicy,
  connect,
  DeliverPolicy,
  headers as natsHeaders,
  RetentionPolicy,
  StorageType,
  type Consumer,
  type ConsumerConfig,
  type ConsumerMessages,
  type JetStreamClient,
  type JsMsg,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from 'nats';
import type { z } from 'zod';
import { createEnvelope, Streams, type Envelope, type StreamName } from '@drover/contracts';
import { extractTrace, injectTrace, SpanKind, withSpan } from '@drover/telemetry';
import { decodeEnvelope, encode, respond, type Decoded } from './wire-codec';

export interface NatsBusOptions {
  url: string;
  /** Prepended to every subject and stream name; isolates tests sharing a broker. */
  prefix: string;
  /** Name of the service using the bus (connection name, span attribute). */
  service: string;
}

export interface PublishOptions {
  /** JetStream dedupe id; defaults to the envelope id. */
  msgId?: string;
  correlationId?: string;
  /** Explicit trace context (`traceparent`) to send instead of the active one. */
  traceparent?: string | null;
  /** Envelope id; set it to make a re-publish of the same fact identical. */
  id?: string;
}

export type Handler<T> = (data: T, envelope: Envelope<T>) => Promise<void>;

/** Handlers by (unprefixed) subject, each with the schema its messages must match. */
export type Routes = Record<string, { schema: z.ZodType; handle: Handler<never> }>;

/** Thrown by `request` when the responder answered with something invalid. */
export class MessagingError extends Error {}

const SECOND_NS = 1_000_000_000;

/**
 * Drover's port to NATS: envelopes, validation at the edge, trace propagation
 * in headers, JetStream streams and durable consumers. Invalid inbound messages
 * are logged with their subject and dropped (JetStream: terminated), never
 * half-processed.
 */
export class NatsBus {
  private readonly logger: Logger;
  private readonly js: JetStreamClient;
  private readonly subs: Subscription[] = [];
  private readonly loops: Promise<void>[] = [];
  private readonly consumers = new Map<string, Consumer>();
  private readonly streams = new Set<ConsumerMessages>();
  private stopping = false;

  private constructor(
    readonly connection: NatsConnection,
    private readonly options: NatsBusOptions,
  ) {
    this.logger = new Logger(`NatsBus(${options.service})`);
    this.js = connection.jetstream();
  }

  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    const nc = await connect({
      servers: options.url,
      name: `drover-${options.service}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
    });
    return new NatsBus(nc, options);
  }

  /** The prefixed wire name of a subject. */
  subject(subject: string): string {
    return this.options.prefix ? `${this.options.prefix}.${subject}` : subject;
  }

  streamName(stream: StreamName): string {
    const name = Streams[stream].name;
    return this.options.prefix ? `${this.options.prefix.toUpperCase()}_${name}` : name;
  }

  /** Creates (or updates) the JetStream streams this service relies on. */
  async ensureStreams(streams: readonly StreamName[]): Promise<void> {
    const jsm = await this.connection.jetstreamManager();
    for (const stream of streams) {
      const config = {
        name: this.streamName(stream),
        subjects: Streams[stream].subjects.map((s) => this.subject(s)),
        retention: stream === 'events' ? RetentionPolicy.Limits : RetentionPolicy.Workqueue,
        storage: StorageType.File,
        duplicate_window: 120 * SECOND_NS,
        // The event stream only wakes listeners up; Postgres keeps the history.
        max_age: stream === 'events' ? 3600 * SECOND_NS : 0,
      };
      try {
        await jsm.streams.info(config.name);
        await jsm.streams.update(config.name, config);
      } catch {
        await jsm.streams.add(config);
      }
    }
  }

  /** Creates a durable pull consumer if it is missing. */
  async ensureConsumer(
    stream: StreamName,
    durable: string,
    config: Partial<ConsumerConfig> = {},
  ): Promise<void> {
    const jsm = await this.connection.jetstreamManager();
    const name = this.streamName(stream);
    try {
      await jsm.consumers.info(name, durable);
    } catch {
      await jsm.consumers.add(name, {
        durable_name: durable,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        ack_wait: 30 * SECOND_NS,
        max_deliver: -1,
        ...config,
      });
    }
  }

  private headersFor(opts: PublishOptions): MsgHdrs {
    const h = natsHeaders();
    if (opts.traceparent) h.set('traceparent', opts.traceparent);
    else injectTrace(h);
    return h;
  }

  /** Durable publish through JetStream; resolves once the stream stored it. */
  async publish<T>(subject: string, data: T, opts: PublishOptions = {}): Promise<void> {
    const envelope = createEnvelope(subject, data, opts);
    const headers = this.headersFor(opts);
    await this.js.publish(this.subject(subject), encode(envelope, headers), {
      msgID: opts.msgId ?? envelope.id,
      headers,
    });
  }

  /** Fire-and-forget publish on core NATS (high-rate, ephemeral traffic). */
  emit<T>(subject: string, data: T, opts: PublishOptions = {}): void {
    const envelope = createEnvelope(subject, data, opts);
    const headers = this.headersFor(opts);
    this.connection.publish(this.subject(subject), encode(envelope, headers), { headers });
  }

  /** Request/reply; the reply is validated against `replySchema`. */
  async request<S extends z.ZodType>(
    subject: string,
    data: unknown,
    replySchema: S,
    timeoutMs: number,
    opts: PublishOptions = {},
  ): Promise<z.output<S>> {
    const envelope = createEnvelope(subject, data, opts);
    const headers = this.headersFor(opts);
    const msg = await this.connection.request(this.subject(subject), encode(envelope, headers), {
      timeout: timeoutMs,
      headers,
    });
    const reply = this.decode(subject, msg, replySchema);
    if (!reply.ok) throw new MessagingError(`invalid reply on ${subject}: ${reply.reason}`);
    return reply.envelope.data;
  }

  /**
   * Answers requests on `subject` (one member of the service's queue group answers
   * each). An invalid request gets `replies.invalid(reason)`; a handler that throws
   * is logged and answered with `replies.failed()`, which must not leak internals.
   */
  serve<S extends z.ZodType, R>(
    subject: string,
    schema: S,
    handler: (data: z.output<S>, envelope: Envelope<z.output<S>>) => Promise<R>,
    replies: { invalid: (reason: string) => R; failed: () => R },
  ): void {
    const sub = this.connection.subscribe(this.subject(subject), { queue: subject });
    this.subs.push(sub);
    this.loops.push(
      (async () => {
        for await (const msg of sub) {
          const decoded = this.decode(subject, msg, schema);
          if (!decoded.ok) {
            respond(msg, createEnvelope(subject, replies.invalid(decoded.reason)));
            continue;
          }
          const reply = await this.traced(subject, msg.headers, SpanKind.SERVER, () =>
            handler(decoded.envelope.data, decoded.envelope),
          ).catch((error: Error) => {
            this.logger.error(`handler for ${subject} failed: ${error.message}`, error.stack);
            return replies.failed();
          });
          respond(msg, createEnvelope(subject, reply));
        }
      })(),
    );
  }

  /** Core NATS subscription; invalid messages are logged and dropped. */
  subscribe<S extends z.ZodType>(
    subject: string,
    schema: S,
    handler: Handler<z.output<S>>,
    queue?: string,
  ): void {
    const sub = this.connection.subscribe(this.subject(subject), queue ? { queue } : {});
    this.subs.push(sub);
    this.loops.push(
      (async () => {
        for await (const msg of sub) await this.handleCore(subject, msg, schema, handler);
      })(),
    );
  }

  private async handleCore<S extends z.ZodType>(
    subject: string,
    msg: Msg,
    schema: S,
    handler: Handler<z.output<S>>,
  ): Promise<void> {
    const decoded = this.decode(subject, msg, schema);
    if (!decoded.ok) return;
    await this.traced(subject, msg.headers, SpanKind.CONSUMER, () =>
      handler(decoded.envelope.data, decoded.envelope),
    ).catch((error: Error) =>
      this.logger.error(`handler for ${subject} failed: ${error.message}`, error.stack),
    );
  }

  private async consumer(stream: StreamName, durable: string): Promise<Consumer> {
    const key = `${stream}/${durable}`;
    let consumer = this.consumers.get(key);
    if (!consumer) {
      consumer = await this.js.consumers.get(this.streamName(stream), durable);
      this.consumers.set(key, consumer);
    }
    return consumer;
  }

  /**
   * Takes one message from a durable consumer, waiting up to `expiresMs` for it,
   * and hands it to its subject's handler. For callers that must never hold more
   * work than they can start (a runner with free slots). False when none came.
   */
  async pullOne(
    stream: StreamName,
    durable: string,
    routes: Routes,
    opts: { expiresMs: number; retryDelayMs?: number },
  ): Promise<boolean> {
    const consumer = await this.consumer(stream, durable);
    const msg = await consumer.next({ expires: opts.expiresMs });
    if (!msg) return false;
    await this.handleJs(msg, routes, opts.retryDelayMs ?? 1000);
    return true;
  }

  private async handleJs(msg: JsMsg, routes: Routes, retryDelayMs: number): Promise<void> {
    const subject = this.unprefixed(msg.subject);
    const route = routes[subject];
    if (!route) {
      this.logger.warn(`no handler for ${subject}; message terminated`);
      msg.term();
      return;
    }
    const decoded = this.decode(subject, msg, route.schema);
    if (!decoded.ok) {
      msg.term();
      return;
    }
    try {
      await this.traced(subject, msg.headers, SpanKind.CONSUMER, () =>
        route.handle(decoded.envelope.data as never, decoded.envelope as never),
      );
      msg.ack();
    } catch (error) {
      this.logger.error(
        `handler for ${subject} failed (delivery ${msg.info.redeliveryCount}): ${(error as Error).message}`,
        (error as Error).stack,
      );
      msg.nak(retryDelayMs);
    }
  }

  /**
   * Consumes a durable consumer until the bus closes: messages stream in (up to
   * `max` buffered) and up to `concurrency` are handled at once. Handled messages
   * are acked; a handler that throws gets its message redelivered after
   * `retryDelayMs`; invalid ones are terminated.
   */
  consumeForever(
    stream: StreamName,
    durable: string,
    routes: Routes,
    opts: { max: number; concurrency?: number; retryDelayMs?: number },
  ): void {
    const concurrency = opts.concurrency ?? 1;
    this.loops.push(
      (async () => {
        while (!this.stopping) {
          try {
            const messages = await (
              await this.consumer(stream, durable)
            ).consume({
              max_messages: opts.max,
            });
            this.streams.add(messages);
            const inflight = new Set<Promise<void>>();
            for await (const msg of messages) {
              const handled: Promise<void> = this.handleJs(msg, routes, opts.retryDelayMs ?? 1000)
                .catch(() => undefined)
                .finally(() => inflight.delete(handled));
              inflight.add(handled);
              if (inflight.size >= concurrency) await Promise.race(inflight);
            }
            await Promise.all(inflight);
            this.streams.delete(messages);
          } catch (error) {
            if (this.stopping) break;
            this.logger.warn(`consuming ${stream}/${durable} failed: ${(error as Error).message}`);
            await new Promise((r) => setTimeout(r, 500));
          }
        }
      })(),
    );
  }

  private unprefixed(subject: string): string {
    const prefix = this.options.prefix ? `${this.options.prefix}.` : '';
    return prefix && subject.startsWith(prefix) ? subject.slice(prefix.length) : subject;
  }

  private traced<T>(
    subject: string,
    hdrs: MsgHdrs | undefined,
    kind: SpanKind,
    fn: () => Promise<T>,
  ): Promise<T> {
    return withSpan(
      `${kind === SpanKind.SERVER ? 'handle' : 'process'} ${subject}`,
      {
        parent: extractTrace(hdrs),
        kind,
        attributes: {
          'messaging.destination.name': subject,
          'drover.service': this.options.service,
        },
      },
      fn,
    );
  }

  private decode<S extends z.ZodType>(
    subject: string,
    msg: { data: Uint8Array; headers?: MsgHdrs },
    schema: S,
  ): Decoded<z.output<S>> {
    const decoded = decodeEnvelope(msg, schema);
    if (!decoded.ok) {
      this.logger.warn(`invalid message on ${this.subject(subject)} dropped: ${decoded.reason}`);
    }
    return decoded;
  }

  /** Stops consuming, drains subscriptions and closes the connection. */
  async close(): Promise<void> {
    this.stopping = true;
    for (const messages of this.streams) messages.stop();
    if (this.connection.isClosed()) return;
    await this.connection.drain().catch(() => undefined);
    await Promise.allSettled(this.loops);
  }
}
