import { Logger } from '@nestjs/common';
import {
  AckPolicy,
  connect,
  ConsumerEvents,
  DeliverPolicy,
  Events,
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
import {
  createEnvelope,
  Streams,
  subjectTemplate,
  type Envelope,
  type StreamName,
} from '@drover/contracts';
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

/**
 * Thrown by `ensureConsumer` when a work-queue stream refuses the consumer because
 * another consumer's filter overlaps its own (or the other has none).
 */
export class ConsumerOverlapError extends Error {}

const SECOND_NS = 1_000_000_000;

/**
 * How long JetStream waits for the acknowledgement of a message it delivered
 * before it delivers it again. Short, so that what a consumer that died had
 * pulled (a killed orchestrator's finish reports) reaches its successor within
 * seconds; a handler that takes longer keeps its message with in-progress acks
 * every `IN_PROGRESS_EVERY_MS`.
 */
export const ACK_WAIT_MS = 5_000;
const IN_PROGRESS_EVERY_MS = 1_500;

/** JetStream API error codes (`err_code`) of a missing stream and a missing consumer. */
const STREAM_NOT_FOUND = 10059;
const CONSUMER_NOT_FOUND = 10014;
/** ... and of a work queue refusing a consumer whose filter overlaps another's. */
const WORKQUEUE_FILTER_NOT_UNIQUE = 10100;

/** The parts of a `NatsError` the recovery decisions look at. */
interface NatsFailure {
  code?: unknown;
  message?: unknown;
  api_error?: { err_code?: number };
}

function failure(error: unknown): NatsFailure {
  return typeof error === 'object' && error !== null ? error : {};
}

/**
 * True when JetStream says the stream is gone: nobody answers its subjects (503,
 * "no responders") or the API reports "stream not found".
 */
function isStreamMissing(error: unknown): boolean {
  const e = failure(error);
  return (
    e.code === '503' ||
    e.api_error?.err_code === STREAM_NOT_FOUND ||
    e.message === 'stream not found'
  );
}

/** The notice a pending pull gets when its consumer (or the consumer's stream) is deleted. */
function isDeletionNotice(error: unknown): boolean {
  const e = failure(error);
  return e.code === '409' && e.message === 'consumer deleted';
}

/** True when a durable consumer, or the stream under it, no longer exists. */
function isConsumerMissing(error: unknown): boolean {
  const e = failure(error);
  return (
    isStreamMissing(error) ||
    e.api_error?.err_code === CONSUMER_NOT_FOUND ||
    e.message === 'consumer not found' ||
    isDeletionNotice(error)
  );
}

/**
 * How long to let the server finish a deletion it has just announced. Re-created
 * while nats-server (2.9) is still removing the old one, a stream can come back
 * with a consumer that never delivers.
 */
const DELETION_SETTLE_MS = 500;

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Whether a JetStream info lookup found what it looked for. */
const exists = (info: Promise<unknown>) =>
  info.then(
    () => true,
    () => false,
  );

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
  /** What `ensureStreams` was asked for: re-created when the server lost them. */
  private readonly wantedStreams = new Set<StreamName>();
  /** What `ensureConsumer` was asked for, by `stream/durable`, to re-create it as it was. */
  private readonly wantedConsumers = new Map<string, Partial<ConsumerConfig>>();
  /** Recoveries under way, by what they restore, so concurrent failures share one. */
  private readonly recoveries = new Map<string, Promise<void>>();
  /** False between a disconnect and the reconnect; errors then are not a lost stream. */
  private connected = true;
  private stopping = false;

  private constructor(
    readonly connection: NatsConnection,
    private readonly options: NatsBusOptions,
  ) {
    this.logger = new Logger(`NatsBus(${options.service})`);
    this.js = connection.jetstream();
    void this.watchConnection();
  }

  /**
   * Tracks whether the connection is up, and forgets the consumers on reconnect:
   * the server may have restarted without them, and a pull from a consumer that
   * does not exist just goes unanswered, where looking it up again fails loudly.
   * Not one of `loops`: nats.js never ends a connection's status iterators.
   */
  private async watchConnection(): Promise<void> {
    for await (const status of this.connection.status()) {
      if (status.type === Events.Disconnect) this.connected = false;
      else if (status.type === Events.Reconnect) {
        this.connected = true;
        this.consumers.clear();
      }
    }
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

  /**
   * Creates (or updates) the JetStream streams this service relies on, and
   * remembers them so they are re-created if the server loses them.
   */
  async ensureStreams(streams: readonly StreamName[]): Promise<void> {
    for (const stream of streams) this.wantedStreams.add(stream);
    await this.createStreams(streams);
  }

  private async createStreams(streams: readonly StreamName[]): Promise<void> {
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
        await jsm.streams.add(config).catch(async (error: Error) => {
          // After a restart every service re-creates at once: another may have won.
          if (!(await exists(jsm.streams.info(config.name)))) throw error;
          await jsm.streams.update(config.name, config);
        });
      }
    }
  }

  /**
   * Creates a durable pull consumer if it is missing, and remembers it (with its
   * config) so it is re-created if the server loses it.
   */
  async ensureConsumer(
    stream: StreamName,
    durable: string,
    config: Partial<ConsumerConfig> = {},
  ): Promise<void> {
    this.wantedConsumers.set(`${stream}/${durable}`, config);
    await this.createConsumer(stream, durable, config);
  }

  private async createConsumer(
    stream: StreamName,
    durable: string,
    config: Partial<ConsumerConfig>,
  ): Promise<void> {
    const jsm = await this.connection.jetstreamManager();
    const name = this.streamName(stream);
    const ackWait = config.ack_wait ?? ACK_WAIT_MS * 1_000_000;
    let existing: ConsumerConfig | undefined;
    try {
      existing = (await jsm.consumers.info(name, durable)).config;
    } catch {
      await jsm.consumers
        .add(name, {
          durable_name: durable,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          max_deliver: -1,
          ...config,
          ack_wait: ackWait,
        })
        .catch(async (error: Error) => {
          // Another instance of the service may have re-created it at the same moment.
          if (await exists(jsm.consumers.info(name, durable))) return;
          if (failure(error).api_error?.err_code === WORKQUEUE_FILTER_NOT_UNIQUE) {
            throw new ConsumerOverlapError(
              `work queue ${name} refuses consumer ${durable} (filter ${config.filter_subject ?? 'none'}): ` +
                "another consumer's filter overlaps it",
            );
          }
          throw error;
        });
      return;
    }
    // A consumer created with a longer ack wait (30 s before) takes the current one.
    if (existing.ack_wait !== ackWait) {
      await jsm.consumers.update(name, durable, { ack_wait: ackWait });
    }
  }

  /**
   * Deletes durable consumer `durable` of `stream` if it exists and filters on
   * nothing (a work queue then refuses every filtered consumer beside it). True
   * when it was deleted; its undelivered and unacknowledged messages stay in the
   * stream for the other consumers.
   */
  async removeUnfilteredConsumer(stream: StreamName, durable: string): Promise<boolean> {
    const jsm = await this.connection.jetstreamManager();
    const name = this.streamName(stream);
    const info = await jsm.consumers.info(name, durable).catch(() => null);
    if (!info || info.config.filter_subject || info.config.filter_subjects?.length) return false;
    return jsm.consumers.delete(name, durable);
  }

  private headersFor(opts: PublishOptions): MsgHdrs {
    const h = natsHeaders();
    if (opts.traceparent) h.set('traceparent', opts.traceparent);
    else injectTrace(h);
    return h;
  }

  /**
   * Durable publish through JetStream; resolves once the stream stored it. When
   * the stream is gone (a server restarted with an empty store), the remembered
   * streams are re-created and the publish is tried once more; the same message
   * id keeps that retry from storing it twice.
   */
  async publish<T>(subject: string, data: T, opts: PublishOptions = {}): Promise<void> {
    const envelope = createEnvelope(subject, data, opts);
    const headers = this.headersFor(opts);
    const body = encode(envelope, headers);
    const send = () =>
      this.js.publish(this.subject(subject), body, { msgID: opts.msgId ?? envelope.id, headers });
    try {
      await send();
    } catch (error) {
      // While reconnecting, failures say nothing about the stream: callers retry.
      if (!this.connected || !isStreamMissing(error) || this.wantedStreams.size === 0) throw error;
      this.logger.warn(`no stream stored ${subject}; re-creating the streams`);
      await this.recover('streams', () => this.createStreams([...this.wantedStreams]));
      await send();
    }
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
    opts: { concurrency?: number } = {},
  ): void {
    const sub = this.connection.subscribe(this.subject(subject), { queue: subject });
    this.subs.push(sub);
    const answer = async (msg: Msg): Promise<void> => {
      const decoded = this.decode(subject, msg, schema);
      if (!decoded.ok) {
        respond(msg, createEnvelope(subject, replies.invalid(decoded.reason)));
        return;
      }
      const reply = await this.traced(subject, msg.headers, SpanKind.SERVER, () =>
        handler(decoded.envelope.data, decoded.envelope),
      ).catch((error: Error) => {
        this.logger.error(`handler for ${subject} failed: ${error.message}`, error.stack);
        return replies.failed();
      });
      respond(msg, createEnvelope(subject, reply));
    };
    // Requests are answered concurrently, up to `concurrency` at once, so that a
    // handler can gather the requests that arrive together into one batch.
    const concurrency = opts.concurrency ?? 64;
    this.loops.push(
      (async () => {
        const inflight = new Set<Promise<void>>();
        for await (const msg of sub) {
          const handled: Promise<void> = answer(msg).finally(() => inflight.delete(handled));
          inflight.add(handled);
          if (inflight.size >= concurrency) await Promise.race(inflight);
        }
        await Promise.all(inflight);
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

  /** Runs `restore` unless a recovery of the same `key` is under way, then waits for that one. */
  private recover(key: string, restore: () => Promise<void>): Promise<void> {
    let running = this.recoveries.get(key);
    if (!running) {
      running = restore().finally(() => this.recoveries.delete(key));
      this.recoveries.set(key, running);
    }
    return running;
  }

  /**
   * Re-creates a durable consumer the server lost (`cause` says how), and its
   * stream first (the consumer cannot exist without it). A consumer this bus was
   * never asked to ensure is left to whoever created it.
   */
  private restoreConsumer(stream: StreamName, durable: string, cause: unknown): Promise<void> {
    const key = `${stream}/${durable}`;
    this.consumers.delete(key);
    return this.recover(`consumer ${key}`, async () => {
      if (isDeletionNotice(cause)) await pause(DELETION_SETTLE_MS);
      await this.createStreams([stream]);
      const config = this.wantedConsumers.get(key);
      if (config) await this.createConsumer(stream, durable, config);
      else this.logger.warn(`consumer ${key} is missing and was not ensured here`);
    });
  }

  /**
   * Takes one message from a durable consumer, waiting up to `expiresMs` for it,
   * and hands it to its subject's handler. For callers that must never hold more
   * work than they can start (a runner with free slots). False when none came.
   * A consumer the server lost is re-created and asked once more.
   */
  async pullOne(
    stream: StreamName,
    durable: string,
    routes: Routes,
    opts: { expiresMs: number; retryDelayMs?: number },
  ): Promise<boolean> {
    const next = async () =>
      (await this.consumer(stream, durable)).next({ expires: opts.expiresMs });
    let msg: JsMsg | null;
    try {
      msg = await next();
    } catch (error) {
      if (!isConsumerMissing(error)) throw error;
      this.logger.warn(`pulling ${stream}/${durable}: ${(error as Error).message}; re-creating it`);
      await this.restoreConsumer(stream, durable, error);
      msg = await next();
    }
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
    // Still being handled: the broker must not deliver it again meanwhile.
    const working = setInterval(() => {
      try {
        msg.working();
      } catch {
        // The connection is closing: the message is delivered again, as after a crash.
      }
    }, IN_PROGRESS_EVERY_MS);
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
    } finally {
      clearInterval(working);
    }
  }

  /**
   * Consumes a durable consumer until the bus closes: messages stream in (up to
   * `max` buffered) and up to `concurrency` are handled at once. Handled messages
   * are acked; a handler that throws gets its message redelivered after
   * `retryDelayMs`; invalid ones are terminated. Survives server restarts: a
   * consumer (or stream) the server lost is re-created and consuming goes on.
   */
  consumeForever(
    stream: StreamName,
    durable: string,
    routes: Routes,
    opts: { max: number; concurrency?: number; retryDelayMs?: number },
  ): void {
    this.loops.push(
      (async () => {
        while (!this.stopping && !this.connection.isClosed()) {
          try {
            await this.consumeUntilLost(stream, durable, routes, opts);
          } catch (error) {
            if (this.stopping) break;
            this.logger.warn(`consuming ${stream}/${durable} failed: ${(error as Error).message}`);
            if (isConsumerMissing(error)) {
              await this.restoreConsumer(stream, durable, error).catch((e: Error) => {
                if (!this.stopping) {
                  this.logger.warn(`re-creating ${stream}/${durable} failed: ${e.message}`);
                }
              });
            }
          }
          if (!this.stopping) await pause(500);
        }
      })(),
    );
  }

  /**
   * One `consume()` of a durable consumer, until its iterator ends. It is told to
   * fail when the consumer or its stream is missing (nats.js would otherwise keep
   * polling for them forever, only emitting status events); a plain reconnect it
   * handles itself, checking the consumer and pulling again.
   */
  private async consumeUntilLost(
    stream: StreamName,
    durable: string,
    routes: Routes,
    opts: { max: number; concurrency?: number; retryDelayMs?: number },
  ): Promise<void> {
    const concurrency = opts.concurrency ?? 1;
    const consumer = await this.consumer(stream, durable);
    const messages = await consumer.consume({
      max_messages: opts.max,
      abort_on_missing_resource: true,
    });
    this.streams.add(messages);
    void this.logConsumerEvents(messages, `${stream}/${durable}`);
    const inflight = new Set<Promise<void>>();
    try {
      for await (const msg of messages) {
        const handled: Promise<void> = this.handleJs(msg, routes, opts.retryDelayMs ?? 1000)
          .catch(() => undefined)
          .finally(() => inflight.delete(handled));
        inflight.add(handled);
        if (inflight.size >= concurrency) await Promise.race(inflight);
      }
    } finally {
      await Promise.all(inflight);
      this.streams.delete(messages);
      messages.stop();
    }
  }

  /**
   * Missed heartbeats are the only sign of a consumer lost without a word (no
   * "consumer deleted" notice); nats.js then looks it up, and fails if it is gone.
   */
  private async logConsumerEvents(messages: ConsumerMessages, name: string): Promise<void> {
    try {
      for await (const status of await messages.status()) {
        if (status.type === ConsumerEvents.HeartbeatsMissed) {
          this.logger.warn(`consumer ${name}: ${String(status.data)} heartbeats missed`);
        }
      }
    } catch {
      // The status stream ends with the messages; nothing to report.
    }
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
    const template = subjectTemplate(subject);
    return withSpan(
      `${kind === SpanKind.SERVER ? 'handle' : 'process'} ${template}`,
      {
        parent: extractTrace(hdrs),
        kind,
        attributes: {
          'messaging.destination.name': subject,
          'messaging.destination.template': template,
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
