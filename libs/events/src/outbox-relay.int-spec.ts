import { randomUUID } from 'node:crypto';
import {
  Subjects,
  TaskChanged,
  type Envelope,
  type PublicEventData,
  type StreamEvent,
  type StreamName,
} from '@drover/contracts';
import { NatsBus } from '@drover/messaging';
import { createTestEnv, waitFor, type TestEnv } from '@drover/testing';
import { EventLog } from './event-log';
import { EventTail } from './event-tail';
import { appendToOutbox, type OutboxMessage } from './outbox';
import { OutboxRelay } from './outbox-relay';

const STREAMS: StreamName[] = ['events', 'work'];

let env: TestEnv;
let bus: NatsBus;
let relay: OutboxRelay;

beforeAll(async () => {
  env = await createTestEnv();
  bus = await NatsBus.connect({ url: env.natsUrl, prefix: env.subjectPrefix, service: 'test' });
  await bus.ensureStreams(STREAMS);
  // Never started: each test drives sequence() and publish() itself.
  relay = new OutboxRelay(env.prisma, bus, { pollMs: 60_000 });
});

afterAll(async () => {
  if (bus) {
    const jsm = await bus.connection.jetstreamManager();
    for (const stream of STREAMS)
      await jsm.streams.delete(bus.streamName(stream)).catch(() => false);
    await bus.close();
  }
  await env?.destroy();
});

/** A task.changed message for `ticketId`, numbered `n` in its key. */
function taskChanged(ticketId: string, n: number): OutboxMessage {
  return {
    subject: Subjects.taskChanged,
    ticketId,
    data: {
      taskId: randomUUID(),
      ticketId,
      key: `task-${n}`,
      status: 'READY',
      previous: 'PENDING',
    },
  };
}

function append(messages: OutboxMessage[]): Promise<void> {
  return env.prisma.$transaction((tx) => appendToOutbox(tx, messages));
}

/** Sequences every pending event (several relay passes for large backlogs). */
async function sequenceAll(): Promise<number> {
  let total = 0;
  for (let n = await relay.sequence(); n > 0; n = await relay.sequence()) total += n;
  return total;
}

async function head(): Promise<number> {
  return new EventLog(env.prisma).head();
}

function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

describe(OutboxRelay.name, () => {
  it('gives committed rows consecutive sequences in insertion order', async () => {
    const base = await head();
    const ticketId = randomUUID();
    await append([taskChanged(ticketId, 1), taskChanged(ticketId, 2)]);
    await append([taskChanged(ticketId, 3)]);
    await append([taskChanged(ticketId, 4), taskChanged(ticketId, 5), taskChanged(ticketId, 6)]);

    expect(await relay.sequence()).toBe(6);
    expect(await relay.sequence()).toBe(0);

    const rows = await env.prisma.event.findMany({ where: { ticketId }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => Number(r.seq))).toEqual(range(base + 1, base + 6));
    expect(rows.map((r) => (r.data as { key: string }).key)).toEqual(
      range(1, 6).map((n) => `task-${n}`),
    );
    expect(rows.every((r) => r.publishedAt === null)).toBe(true);
  });

  it('sequences a row only once committed, after the rows sequenced before', async () => {
    const base = await head();
    const ticketId = randomUUID();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let appended!: () => void;
    const inserted = new Promise<void>((resolve) => (appended = resolve));
    // This transaction takes the lower row id but commits last.
    const slow = env.prisma.$transaction(async (tx) => {
      await appendToOutbox(tx, [taskChanged(ticketId, 1)]);
      appended();
      await gate;
    });
    await inserted;
    await append([taskChanged(ticketId, 2)]);

    expect(await relay.sequence()).toBe(1);
    release();
    await slow;
    expect(await relay.sequence()).toBe(1);

    const rows = await env.prisma.event.findMany({ where: { ticketId }, orderBy: { id: 'asc' } });
    expect(rows.map((r) => [(r.data as { key: string }).key, Number(r.seq)])).toEqual([
      ['task-1', base + 2],
      ['task-2', base + 1],
    ]);
  });

  it('publishes each sequenced row to NATS once and marks it published', async () => {
    await sequenceAll();
    await relay.publish();
    const received: Envelope<PublicEventData<'task.changed'>>[] = [];
    const listener = await NatsBus.connect({
      url: env.natsUrl,
      prefix: env.subjectPrefix,
      service: 'listener',
    });
    try {
      listener.subscribe(Subjects.taskChanged, TaskChanged, (_, envelope) => {
        received.push(envelope);
        return Promise.resolve();
      });
      await listener.connection.flush();
      const ticketId = randomUUID();
      await append(range(1, 5).map((n) => taskChanged(ticketId, n)));
      await append(range(6, 7).map((n) => taskChanged(ticketId, n)));
      expect(await relay.sequence()).toBe(7);

      expect(await relay.publish()).toBe(7);

      const rows = await env.prisma.event.findMany({
        where: { ticketId },
        orderBy: { seq: 'asc' },
      });
      await waitFor(() => received.length >= 7, '7 events on NATS', 10_000);
      expect(received.map((e) => e.id).sort()).toEqual(rows.map((r) => r.messageId).sort());
      for (const envelope of received) {
        const row = rows.find((r) => r.messageId === envelope.id);
        expect(envelope.data).toEqual(row?.data);
        expect(envelope.type).toBe('drover.orchestrator.task.changed');
      }
      expect(rows.every((r) => r.publishedAt !== null)).toBe(true);

      expect(await relay.publish()).toBe(0);
      // NATS keeps one connection's messages in order: once this marker arrives, anything the
      // second publish() had sent would have arrived too.
      const marker = randomUUID();
      await bus.publish(Subjects.taskChanged, {
        taskId: marker,
        ticketId,
        key: 'marker',
        status: 'READY',
        previous: null,
      });
      await waitFor(() => received.some((e) => e.data.taskId === marker), 'the marker', 10_000);
      expect(received).toHaveLength(8);
    } finally {
      await listener.close();
    }
  });
});

describe(EventTail.name, () => {
  const TOTAL = 2_500;
  let base: number;
  let end: number;
  const ticketA = randomUUID();
  const ticketB = randomUUID();
  let tail: EventTail;

  beforeAll(async () => {
    await sequenceAll();
    base = await head();
    // 2,500 public events over two tickets, plus internal work rows the stream never shows.
    for (let from = 0; from < TOTAL; from += 500) {
      const messages: OutboxMessage[] = [];
      for (let n = from; n < from + 500; n++) {
        messages.push(taskChanged(n % 3 === 0 ? ticketA : ticketB, n));
        if (n % 100 === 0) {
          messages.push({
            subject: Subjects.runDispatched,
            ticketId: ticketA,
            internal: true,
            data: { runId: randomUUID() },
          });
        }
      }
      await append(messages);
    }
    await sequenceAll();
    end = await head();
    tail = new EventTail(new EventLog(env.prisma), 25);
    await tail.start();
  });

  afterAll(async () => {
    await tail?.stop();
  });

  /** Sequences of the public events with base < seq <= until (optionally of one ticket). */
  async function publicSeqs(after: number, until: number, ticketId?: string): Promise<number[]> {
    const rows = await env.prisma.event.findMany({
      where: {
        seq: { gt: after, lte: until },
        internal: false,
        ...(ticketId ? { ticketId } : {}),
      },
      orderBy: { seq: 'asc' },
      select: { seq: true },
    });
    return rows.map((r) => Number(r.seq));
  }

  it('catches up a subscriber from since=N with each later event once, in order', async () => {
    expect(end - base).toBe(TOTAL + 25);
    const since = base + 130;
    const seen: StreamEvent[] = [];

    const unsubscribe = await tail.subscribe({ send: (e) => void seen.push(e) }, since);
    unsubscribe();

    const expected = await publicSeqs(since, end);
    // The first 130 sequences hold 128 public events and 2 internal ones.
    expect(expected).toHaveLength(TOTAL - 128);
    expect(seen.map((e) => e.seq)).toEqual(expected);
    expect(seen.every((e) => e.type === 'task.changed')).toBe(true);
  });

  it('gives a subscriber with a ticket filter only that ticket events', async () => {
    const seen: StreamEvent[] = [];

    const unsubscribe = await tail.subscribe(
      { ticketId: ticketA, send: (e) => void seen.push(e) },
      base,
    );
    unsubscribe();

    expect(seen.length).toBe(Math.ceil(TOTAL / 3));
    expect(seen.every((e) => e.ticketId === ticketA)).toBe(true);
    expect(seen.map((e) => e.seq)).toEqual(await publicSeqs(base, end, ticketA));
  });

  it('delivers events appended during catch-up once, with no gap', async () => {
    const LIVE_BATCHES = 40;
    // Appends, sequences and announces small batches while the subscribers catch up.
    const writer = (async () => {
      for (let i = 0; i < LIVE_BATCHES; i++) {
        await append(
          range(1, 5).map((n) => taskChanged(i % 2 ? ticketA : ticketB, 10_000 + i * 5 + n)),
        );
        await relay.sequence();
        tail.kick();
      }
    })();
    const all: StreamEvent[] = [];
    const ofA: StreamEvent[] = [];
    const late: StreamEvent[] = [];
    const subscriptions = await Promise.all([
      tail.subscribe({ send: (e) => void all.push(e) }, base),
      tail.subscribe({ ticketId: ticketA, send: (e) => void ofA.push(e) }, base + 1000),
      // Joins once live events are flowing, so its catch-up covers some of them.
      waitFor(() => tail.currentHead() > end + 50, 'live events', 10_000).then(() =>
        tail.subscribe({ send: (e) => void late.push(e) }, base + 2000),
      ),
    ]);
    await writer;
    const last = await head();
    expect(last).toBe(end + LIVE_BATCHES * 5);
    await waitFor(
      () => [all, ofA, late].every((seen) => seen.at(-1)?.seq === last),
      'every subscriber to reach the head',
      10_000,
    );
    await waitFor(() => tail.currentHead() === last, 'the tail to reach the head', 10_000);
    for (const unsubscribe of subscriptions) unsubscribe();

    expect(all.map((e) => e.seq)).toEqual(await publicSeqs(base, last));
    expect(ofA.map((e) => e.seq)).toEqual(await publicSeqs(base + 1000, last, ticketA));
    expect(late.map((e) => e.seq)).toEqual(await publicSeqs(base + 2000, last));
  });

  it('holds back a full consumer and catches it up, skipping nothing', async () => {
    // A consumer that takes 50 events, then is full until it has drained, again
    // and again, while live events keep arriving.
    const seen: StreamEvent[] = [];
    let room = 50;
    let pauses = 0;
    const subscriber = {
      send: (e: StreamEvent) => {
        if (room === 0) return false;
        room--;
        seen.push(e);
        return true;
      },
      drained: async () => {
        pauses++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        room = 50;
        return true;
      },
    };
    const from = await head();
    const unsubscribe = await tail.subscribe(subscriber, base);
    for (let i = 0; i < 10; i++) {
      await append(range(1, 30).map((n) => taskChanged(ticketA, 20_000 + i * 30 + n)));
      await relay.sequence();
      tail.kick();
    }
    const last = await head();
    expect(last).toBe(from + 300);
    await waitFor(() => seen.at(-1)?.seq === last, 'the full consumer to reach the head', 20_000);
    unsubscribe();

    expect(pauses).toBeGreaterThan(10);
    expect(seen.map((e) => e.seq)).toEqual(await publicSeqs(base, last));
  });
});
