import { SubmitTicket, type StreamName } from '@drover/contracts';
import { EventLog, EventTail, OutboxRelay, type LoggedEvent } from '@drover/events';
import { NatsBus } from '@drover/messaging';
import { createTestEnv, POLICY_DEFAULTS, waitFor, type TestEnv } from '@drover/testing';
import { CancelWork } from './use-cases/cancel-work';
import { CreateTicket } from './use-cases/create-ticket';
import { DeleteTicket } from './use-cases/delete-ticket';

const STREAMS: StreamName[] = ['events', 'work'];

let env: TestEnv;
let bus: NatsBus;
let relay: OutboxRelay;
const tails: EventTail[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  bus = await NatsBus.connect({ url: env.natsUrl, prefix: env.subjectPrefix, service: 'test' });
  await bus.ensureStreams(STREAMS);
  // Never started: the test relays when it wants to.
  relay = new OutboxRelay(env.prisma, bus, { pollMs: 60_000 });
});

afterAll(async () => {
  for (const tail of tails) await tail.stop();
  if (bus) {
    const jsm = await bus.connection.jetstreamManager();
    for (const stream of STREAMS)
      await jsm.streams.delete(bus.streamName(stream)).catch(() => false);
    await bus.close();
  }
  await env?.destroy();
});

/** Writes a one-task ticket and cancels it (a final ticket may be deleted). */
async function finalTicket(title: string): Promise<{ id: string; projectId: string }> {
  const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
    SubmitTicket.parse({ title, tasks: [{ key: 'only', steps: [{ run: 'true' }] }] }),
  );
  if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
  const { projectId } = await env.prisma.ticket.findUniqueOrThrow({
    where: { id: reply.ticketId },
  });
  const cancelled = await new CancelWork(env.prisma).execute({
    target: 'ticket',
    id: reply.ticketId,
    projectId,
  });
  if (!cancelled.ok) throw new Error(`cancel refused: ${JSON.stringify(cancelled)}`);
  return { id: reply.ticketId, projectId };
}

/** Sequences and publishes every pending event. */
async function relayAll(): Promise<void> {
  while ((await relay.sequence()) > 0);
  while ((await relay.publish()) > 0);
}

async function publicSeqsOf(ticketId: string): Promise<number[]> {
  const { events } = await new EventLog(env.prisma).readSince(0, 10_000);
  return events.filter((e) => e.ticketId === ticketId).map((e) => e.seq);
}

/** A tail as the gateway runs one, and a subscriber of it collecting what it is sent. */
async function openStream(since?: number, tail?: EventTail) {
  const owner = tail ?? new EventTail(new EventLog(env.prisma), 20);
  if (!tail) {
    tails.push(owner);
    await owner.start();
  }
  const seen: LoggedEvent[] = [];
  await owner.subscribe({ send: (event) => void seen.push(event) }, since);
  return { tail: owner, seen };
}

describe('event sequence after a delete', () => {
  it('never gives a sequence again: open and resumed streams get the next ticket’s events', async () => {
    await finalTicket('A');
    const b = await finalTicket('B');
    await relayAll();
    const head = await new EventLog(env.prisma).head();
    const [{ highest }] = await env.prisma.$queryRaw<{ highest: bigint }[]>`
      SELECT max(seq) AS highest FROM event`;
    expect(head).toBe(Number(highest));
    expect((await publicSeqsOf(b.id)).at(-1)).toBe(head);

    // A stream open before the delete, already at the head.
    const open = await openStream();
    await waitFor(() => open.tail.currentHead() === head, 'the open stream at the head');

    const deleted = await new DeleteTicket(env.prisma).execute({
      ticketId: b.id,
      projectId: b.projectId,
    });
    expect(deleted).toMatchObject({ ok: true });
    expect(await publicSeqsOf(b.id)).toEqual([]);

    const c = await finalTicket('C');
    await relayAll();
    const seqsOfC = await publicSeqsOf(c.id);
    expect(seqsOfC.length).toBeGreaterThan(0);
    expect(Math.min(...seqsOfC)).toBeGreaterThan(head);
    expect(await new EventLog(env.prisma).head()).toBe(Math.max(...seqsOfC));

    // Resumed from the old head: on the same tail, and on a tail started after the delete.
    const resumed = await openStream(head, open.tail);
    const fresh = await openStream(head);
    open.tail.kick();
    const ofC = (seen: LoggedEvent[]) => seen.filter((e) => e.ticketId === c.id).map((e) => e.seq);
    for (const [name, stream] of Object.entries({ open, resumed, fresh })) {
      await waitFor(
        () => ofC(stream.seen).length === seqsOfC.length,
        `the ${name} stream to get C's ${seqsOfC.length} events (got ${ofC(stream.seen).length})`,
        5_000,
      );
      expect(ofC(stream.seen)).toEqual(seqsOfC);
    }
  });
});
