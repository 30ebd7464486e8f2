import { KickedLoop } from '@drover/util';
import type { PrismaClient } from '@drover/db';
import type { NatsBus } from '@drover/messaging';

// Serialises sequencing across every relay sharing the database.
const SEQUENCE_LOCK = 72_707_370;

export interface RelayOptions {
  pollMs: number;
  batchSize?: number;
  /** Told of each batch of events once it is published (metrics count transitions and runs here). */
  onPublished?: (events: PublishedEvent[]) => void;
}

/** An event the relay has published, with how long it waited in the outbox. */
export interface PublishedEvent {
  subject: string;
  data: unknown;
  /** Seconds from the row's insert to its publication. */
  lagSeconds: number;
}

/**
 * Moves committed outbox rows to NATS. Step one gives unsequenced events their
 * `seq` under an advisory lock, so sequences become visible in increasing order
 * (the WebSocket stream relies on that to replay without gaps), from the stored
 * high-water mark, so a sequence is never given twice, even after a delete. Step two
 * publishes sequenced, unpublished rows through JetStream with the row's message
 * id (broker-side dedupe) and marks them published. A crash between the two
 * steps republishes at most a batch, which the dedupe window absorbs.
 */
export class OutboxRelay {
  private readonly loop: KickedLoop;
  private readonly batchSize: number;
  private readonly onPublished: (events: PublishedEvent[]) => void;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly bus: NatsBus,
    options: RelayOptions,
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.onPublished = options.onPublished ?? (() => undefined);
    this.loop = new KickedLoop(OutboxRelay.name, () => this.pass(), options.pollMs);
  }

  start(): void {
    this.loop.start();
  }

  /** Asks for a relay pass now; passes never overlap and a kick during one is not lost. */
  kick(): void {
    this.loop.kick();
  }

  /** Sequences and publishes one batch; true when more may be waiting. */
  private async pass(): Promise<boolean> {
    await this.sequence();
    return (await this.publish()) === this.batchSize;
  }

  /** Gives pending events their sequence numbers, in insertion order. */
  async sequence(): Promise<number> {
    return this.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${SEQUENCE_LOCK}::bigint)`;
      // From the stored high-water mark, advanced in this transaction: never from
      // max(seq), which goes back when the newest events are deleted.
      return tx.$executeRaw`
        WITH pending AS (
          SELECT id, row_number() OVER (ORDER BY id) AS rn
          FROM (SELECT id FROM event WHERE seq IS NULL ORDER BY id LIMIT ${this.batchSize * 4}) p
        ),
        head AS (
          UPDATE event_sequence SET last_seq = last_seq + (SELECT count(*) FROM pending)
          WHERE id = 1 AND EXISTS (SELECT 1 FROM pending)
          RETURNING last_seq - (SELECT count(*) FROM pending) AS s
        )
        UPDATE event e SET seq = head.s + pending.rn
        FROM head, pending WHERE e.id = pending.id`;
    });
  }

  /** Publishes one batch of sequenced events; returns how many. */
  async publish(): Promise<number> {
    const published = await this.prisma.$transaction(
      async (tx) => {
        const rows = await tx.$queryRaw<
          {
            id: bigint;
            message_id: string;
            subject: string;
            data: unknown;
            correlation_id: string;
            traceparent: string | null;
            lag_seconds: number;
          }[]
        >`
          SELECT id, message_id, subject, data, correlation_id, traceparent,
                 extract(epoch FROM clock_timestamp() - occurred_at)::float8 AS lag_seconds
          FROM event
          WHERE published_at IS NULL AND seq IS NOT NULL
          ORDER BY seq LIMIT ${this.batchSize}
          FOR UPDATE SKIP LOCKED`;
        if (!rows.length) return [];
        await Promise.all(
          rows.map((row) =>
            this.bus.publish(row.subject, row.data, {
              id: row.message_id,
              msgId: row.message_id,
              correlationId: row.correlation_id,
              traceparent: row.traceparent,
            }),
          ),
        );
        await tx.$executeRaw`UPDATE event SET published_at = now() WHERE id = ANY(${rows.map((r) => r.id)}::bigint[])`;
        return rows.map((r) => ({ subject: r.subject, data: r.data, lagSeconds: r.lag_seconds }));
      },
      { timeout: 30_000 },
    );
    // Once committed: a batch rolled back is published again, and counted then.
    if (published.length) this.onPublished(published);
    return published.length;
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
