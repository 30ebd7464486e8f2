import { randomBytes, randomUUID } from 'node:crypto';
import { Events, type ConsumerConfig, type JetStreamManager } from 'nats';
import { RunFinished, RunLogAppended, Streams, Subjects, type StreamName } from '@drover/contracts';
import {
  finishReport,
  startPrivateNatsServer,
  waitFor,
  type PrivateNatsServer,
} from '@drover/testing';
import { NatsBus, type Routes } from './nats-bus';

// A nats-server of this file's own: the tests stop it, empty its store and start
// it again, which the shared broker must never go through.
const STREAMS: StreamName[] = ['reports'];
const prefix = `r${randomBytes(4).toString('hex')}`;

let server: PrivateNatsServer;
let producer: NatsBus;
const opened: NatsBus[] = [];
/** Durable consumers the current test ensured. */
const durables: string[] = [];

async function connect(service: string): Promise<NatsBus> {
  const bus = await NatsBus.connect({ url: server.url, prefix, service });
  opened.push(bus);
  return bus;
}

beforeAll(async () => {
  server = await startPrivateNatsServer();
  producer = await connect('producer');
  await producer.ensureStreams(STREAMS);
}, 30_000);

// The reports stream is a work queue, where two consumers may not share a filter:
// each test's consumers go when it ends, after the buses that would re-create them.
afterEach(async () => {
  await Promise.allSettled(opened.filter((b) => b !== producer).map((b) => b.close()));
  const jsm = await manager();
  for (const durable of durables.splice(0)) {
    await jsm.consumers.delete(producer.streamName('reports'), durable).catch(() => false);
  }
}, 30_000);

afterAll(async () => {
  try {
    // Buses first, while the server answers their drain; bounded, so that a hung
    // close never keeps the server alive.
    const closed = Promise.allSettled(opened.map((b) => b.close()));
    await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000).unref())]);
  } finally {
    await server?.destroy();
  }
}, 30_000);

function logBatch(): RunLogAppended {
  return {
    runId: randomUUID(),
    leaseToken: randomUUID(),
    runnerId: 'runner-1',
    firstLine: 0,
    lines: [{ stream: 'stdout', text: 'hi', ts: new Date().toISOString() }],
  };
}

/** Resolves at the next reconnect of `bus`; call it before the server goes away. */
function reconnected(bus: NatsBus): Promise<void> {
  return (async () => {
    for await (const status of bus.connection.status()) {
      if (status.type === Events.Reconnect) return;
    }
    throw new Error('connection closed before it reconnected');
  })();
}

/** Restarts the server, emptied of its JetStream store when `wipe`, once every bus is back. */
async function restart(wipe: boolean): Promise<void> {
  const back = opened.filter((b) => !b.connection.isClosed()).map(reconnected);
  await server.stop();
  if (wipe) await server.wipe();
  await server.start();
  await Promise.all(back);
}

async function manager(): Promise<JetStreamManager> {
  return producer.connection.jetstreamManager();
}

function routeTo<T>(
  subject: string,
  schema: typeof RunFinished | typeof RunLogAppended,
  seen: T[],
  handle: (data: T) => Promise<void> = () => Promise.resolve(),
): Routes {
  return {
    [subject]: {
      schema,
      handle: (data: T) => {
        seen.push(data);
        return handle(data);
      },
    },
  };
}

async function consumerBus(
  wanted: Record<string, { subject: string } & Partial<ConsumerConfig>>,
): Promise<NatsBus> {
  const bus = await connect('consumer');
  await bus.ensureStreams(STREAMS);
  for (const [durable, { subject, ...config }] of Object.entries(wanted)) {
    durables.push(durable);
    await bus.ensureConsumer('reports', durable, {
      filter_subject: bus.subject(subject),
      ...config,
    });
  }
  return bus;
}

describe('NatsBus across nats-server restarts', () => {
  it('resumes consuming after a restart that kept the store', async () => {
    // One unacknowledged message at a time, so the second waits in the stream.
    const bus = await consumerBus({
      kept: { subject: Subjects.runFinished, max_ack_pending: 1 },
    });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const handled: RunFinished[] = [];
    bus.consumeForever(
      'reports',
      'kept',
      routeTo(Subjects.runFinished, RunFinished, handled, () =>
        handled.length === 1 ? gate : Promise.resolve(),
      ),
      { max: 10 },
    );

    const first = finishReport();
    await producer.publish(Subjects.runFinished, first);
    await waitFor(() => handled.length === 1, 'the first message', 10_000);
    const waiting = finishReport();
    await producer.publish(Subjects.runFinished, waiting);
    const jsm = await manager();
    const info = () => jsm.consumers.info(producer.streamName('reports'), 'kept');
    await waitFor(
      async () => (await info()).num_pending === 1,
      'the second message to wait in the stream',
      10_000,
    );

    await restart(false);
    release();

    await waitFor(() => handled.length === 2, 'the message published before the restart', 15_000);
    const later = finishReport();
    await producer.publish(Subjects.runFinished, later);
    await waitFor(() => handled.length === 3, 'a message published after the restart', 15_000);
    expect(handled.map((r) => r.runId)).toEqual([first.runId, waiting.runId, later.runId]);
    await waitFor(
      async () => {
        const i = await info();
        return i.num_pending === 0 && i.num_ack_pending === 0;
      },
      'every message to be acked',
      10_000,
    );
    await bus.close();
  }, 60_000);

  it('re-creates streams and consumers after a restart that emptied the store', async () => {
    const bus = await consumerBus({
      'wiped-consume': { subject: Subjects.runFinished },
      'wiped-pull': { subject: Subjects.runLogAppended },
    });
    const consumed: RunFinished[] = [];
    const finished = routeTo(Subjects.runFinished, RunFinished, consumed);
    bus.consumeForever('reports', 'wiped-consume', finished, { max: 10 });
    const pulled: RunLogAppended[] = [];
    const logs = routeTo(Subjects.runLogAppended, RunLogAppended, pulled);
    const pull = () => bus.pullOne('reports', 'wiped-pull', logs, { expiresMs: 1000 });

    const before = finishReport();
    await producer.publish(Subjects.runFinished, before);
    await waitFor(() => consumed.length === 1, 'a message before the restart', 10_000);
    const logBefore = logBatch();
    await producer.publish(Subjects.runLogAppended, logBefore);
    await expect(pull()).resolves.toBe(true);
    expect(pulled).toEqual([logBefore]);

    const jsm = await manager();
    const stream = producer.streamName('reports');
    const lost = await jsm.streams.info(stream);
    await restart(true);

    const after = finishReport();
    await producer.publish(Subjects.runFinished, after);
    await waitFor(
      () => consumed.some((r) => r.runId === after.runId),
      'consumeForever to get a message after the restart',
      15_000,
    );
    const logAfter = logBatch();
    await producer.publish(Subjects.runLogAppended, logAfter);
    await waitFor(
      async () => (await pull()) && pulled.some((l) => l.runId === logAfter.runId),
      'pullOne to get a message after the restart',
      15_000,
    );
    // A new stream (the old one went with the store), and each consumer
    // re-created as it was ensured, filter included.
    expect((await jsm.streams.info(stream)).created).not.toBe(lost.created);
    const consumer = await jsm.consumers.info(stream, 'wiped-pull');
    expect(consumer.config.filter_subject).toBe(producer.subject(Subjects.runLogAppended));
    await bus.close();
  }, 60_000);

  it('re-creates a consumer or stream deleted while the server stays up', async () => {
    const bus = await consumerBus({ deleted: { subject: Subjects.runFinished } });
    const consumed: RunFinished[] = [];
    const finished = routeTo(Subjects.runFinished, RunFinished, consumed);
    bus.consumeForever('reports', 'deleted', finished, { max: 10 });
    const jsm = await manager();
    const stream = producer.streamName('reports');
    const flows = async (what: string, timeoutMs = 15_000) => {
      const report = finishReport();
      await producer.publish(Subjects.runFinished, report);
      await waitFor(() => consumed.some((r) => r.runId === report.runId), what, timeoutMs);
    };
    await flows('a message before any deletion');

    await jsm.consumers.delete(stream, 'deleted');
    await waitFor(
      () => jsm.consumers.info(stream, 'deleted'),
      'the consumer to be re-created',
      15_000,
    );
    await flows('a message after the consumer was deleted');

    // Usually announced at once; when not, nats.js notices by missed heartbeats
    // (two of 15 s each), hence the long wait.
    await jsm.streams.delete(stream);
    await flows('a message after the stream was deleted', 40_000);
    await bus.close();
  }, 90_000);

  it('publish re-creates a stream the server lost, and stores the message once', async () => {
    await restart(true);
    const report = finishReport();
    await producer.publish(Subjects.runFinished, report);

    const stream = await (await manager()).streams.info(producer.streamName('reports'));
    expect(stream.config.subjects).toEqual(
      Streams.reports.subjects.map((s) => producer.subject(s)),
    );
    expect(stream.state.messages).toBe(1);
  }, 60_000);

  it('gives up after one retry when re-creating the streams does not help', async () => {
    const jsm = await manager();
    const streams = async () => (await jsm.streams.names().next()).length;
    const count = await streams();
    // No stream holds this subject: re-creating the known streams cannot help,
    // so after the one retry the failure comes back as it was.
    await expect(
      producer.publish('drover.nowhere.thing.happened.v1', { nothing: true }),
    ).rejects.toMatchObject({ code: '503' });
    expect(await streams()).toBe(count);
  }, 30_000);

  it('leaves failures while disconnected to the caller', async () => {
    const back = reconnected(producer);
    await server.stop();
    try {
      await expect(producer.publish(Subjects.runLogAppended, logBatch())).rejects.toMatchObject({
        code: 'TIMEOUT',
      });
    } finally {
      await server.start();
    }
    await back;
    await producer.publish(Subjects.runLogAppended, logBatch());
  }, 60_000);
});
