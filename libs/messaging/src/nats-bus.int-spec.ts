import { randomUUID } from 'node:crypto';
import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { JSONCodec, type ConsumerInfo } from 'nats';
import {
  createEnvelope,
  RegisterRunner,
  RegistryReply,
  RunFinished,
  RunLogAppended,
  Streams,
  Subjects,
  type RunArtifactStored,
  type Envelope,
  workSubject,
  type StreamName,
} from '@drover/contracts';
import { initTelemetry, shutdownTelemetry, tracer } from '@drover/telemetry';
import { createTestEnv, finishReport, waitFor, type TestEnv } from '@drover/testing';
import { ConsumerOverlapError, MessagingError, NatsBus } from './nats-bus';

const STREAMS: StreamName[] = ['reports'];
const codec = JSONCodec<unknown>();

let env: TestEnv;
let bus: NatsBus;
const exporter = new InMemorySpanExporter();
const opened: NatsBus[] = [];
/** Durable consumers a test created; removed after it (see `consumerFor`). */
const durables: string[] = [];

async function connect(service: string): Promise<NatsBus> {
  const b = await NatsBus.connect({ url: env.natsUrl, prefix: env.subjectPrefix, service });
  opened.push(b);
  return b;
}

beforeAll(async () => {
  initTelemetry({ serviceName: 'nats-bus-test', exporter, env: {} });
  env = await createTestEnv();
  bus = await connect('producer');
  await bus.ensureStreams(STREAMS);
});

// The reports stream is a work queue: two consumers may not share a filter, so
// each test's consumers go once it is over (with the buses that would re-create them).
afterEach(async () => {
  await Promise.all(opened.filter((b) => b !== bus).map((b) => b.close()));
  const jsm = await bus.connection.jetstreamManager();
  for (const durable of durables.splice(0)) {
    await jsm.consumers.delete(bus.streamName('reports'), durable).catch(() => false);
  }
});

afterAll(async () => {
  if (bus) {
    const jsm = await bus.connection.jetstreamManager();
    for (const stream of STREAMS)
      await jsm.streams.delete(bus.streamName(stream)).catch(() => false);
  }
  await Promise.all(opened.map((b) => b.close()));
  await env?.destroy();
  await shutdownTelemetry();
});

function runFinished(): RunFinished {
  return finishReport();
}

function logBatch(): RunLogAppended {
  return {
    runId: randomUUID(),
    leaseToken: randomUUID(),
    runnerId: 'runner-1',
    firstLine: 0,
    lines: [{ stream: 'stdout', text: 'hi', ts: new Date().toISOString() }],
  };
}

/** What a server answers to an invalid request and when its handler fails. */
const replies = {
  invalid: (reason: string) => ({ ok: false, message: reason }),
  failed: () => ({ ok: false, message: 'internal error' }),
};

/** A durable consumer of the reports stream that only sees `subject`. */
async function consumerFor(durable: string, subject: string): Promise<() => Promise<ConsumerInfo>> {
  durables.push(durable);
  await bus.ensureConsumer('reports', durable, { filter_subject: bus.subject(subject) });
  const jsm = await bus.connection.jetstreamManager();
  return () => jsm.consumers.info(bus.streamName('reports'), durable);
}

describe(NatsBus.name, () => {
  it('refuses a consumer whose filter overlaps another’s on a work queue, naming it', async () => {
    await consumerFor('overlap-first', Subjects.runLogAppended);
    durables.push('overlap-second');

    const second = bus.ensureConsumer('reports', 'overlap-second', {
      filter_subject: bus.subject(Subjects.runLogAppended),
    });

    await expect(second).rejects.toThrow(ConsumerOverlapError);
    await expect(second).rejects.toThrow(
      `refuses consumer overlap-second (filter ${bus.subject(Subjects.runLogAppended)})`,
    );
  });

  it('removes an unfiltered consumer that blocks filtered ones, and never a filtered one', async () => {
    durables.push('legacy-unfiltered', 'after-legacy');
    await bus.ensureConsumer('reports', 'legacy-unfiltered');
    const filtered = () =>
      bus.ensureConsumer('reports', 'after-legacy', {
        filter_subject: bus.subject(Subjects.runLogAppended),
      });
    await expect(filtered()).rejects.toThrow(ConsumerOverlapError);

    expect(await bus.removeUnfilteredConsumer('reports', 'legacy-unfiltered')).toBe(true);
    await filtered();
    expect(await bus.removeUnfilteredConsumer('reports', 'after-legacy')).toBe(false);
    expect(await bus.removeUnfilteredConsumer('reports', 'never-created')).toBe(false);
    const jsm = await bus.connection.jetstreamManager();
    expect((await jsm.consumers.info(bus.streamName('reports'), 'after-legacy')).name).toBe(
      'after-legacy',
    );
  });

  it('terminates invalid JetStream messages without handing them to the handler', async () => {
    const info = await consumerFor('invalid-messages', Subjects.runLogAppended);
    const consumer = await connect('consumer');
    const terminated: unknown[] = [];
    // JetStream announces every message a consumer terminates.
    const advisories = consumer.connection.subscribe(
      `$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.${bus.streamName('reports')}.invalid-messages`,
      { callback: (_, msg) => terminated.push(codec.decode(msg.data)) },
    );
    const handled: Envelope<RunLogAppended>[] = [];
    const raw = (body: string) =>
      bus.connection.publish(bus.subject(Subjects.runLogAppended), new TextEncoder().encode(body));
    raw('this is { not JSON');
    raw(JSON.stringify({ hello: 'not an envelope' }));
    raw(JSON.stringify(createEnvelope(Subjects.runLogAppended, { ...logBatch(), runId: 'nope' })));
    await bus.connection.flush();
    await consumer.connection.flush();

    consumer.consumeForever(
      'reports',
      'invalid-messages',
      {
        [Subjects.runLogAppended]: {
          schema: RunLogAppended,
          handle: (_: RunLogAppended, envelope: Envelope<RunLogAppended>) => {
            handled.push(envelope);
            return Promise.resolve();
          },
        },
      },
      { max: 10, retryDelayMs: 100 },
    );

    await waitFor(() => terminated.length === 3, 'three terminated advisories', 10_000);
    await waitFor(
      async () => {
        const i = await info();
        return i.delivered.stream_seq >= 3 && i.num_ack_pending === 0 && i.num_pending === 0;
      },
      'the invalid messages to be settled',
      10_000,
    );
    expect(handled).toHaveLength(0);

    const valid = logBatch();
    await bus.publish(Subjects.runLogAppended, valid);
    await waitFor(() => handled.length === 1, 'the valid message to be handled', 10_000);
    expect(handled[0].data).toEqual(valid);
    await waitFor(async () => (await info()).num_ack_pending === 0, 'the ack', 10_000);
    const settled = await info();
    expect(settled.num_redelivered).toBe(0);
    expect(settled.num_pending).toBe(0);
    expect(terminated).toHaveLength(3);
    expect(handled).toHaveLength(1);
    advisories.unsubscribe();
    await consumer.close();
  });

  it('redelivers the message of a handler that throws and handles it later', async () => {
    const info = await consumerFor('flaky-handler', Subjects.runFinished);
    const consumer = await connect('consumer');
    const attempts: Envelope<RunFinished>[] = [];
    const done: Envelope<RunFinished>[] = [];
    consumer.consumeForever(
      'reports',
      'flaky-handler',
      {
        [Subjects.runFinished]: {
          schema: RunFinished,
          handle: (_: RunFinished, envelope: Envelope<RunFinished>) => {
            attempts.push(envelope);
            if (attempts.length < 3) {
              return Promise.reject(new Error(`transient failure ${attempts.length}`));
            }
            done.push(envelope);
            return Promise.resolve();
          },
        },
      },
      { max: 10, retryDelayMs: 50 },
    );

    const report = runFinished();
    await bus.publish(Subjects.runFinished, report);

    await waitFor(() => done.length === 1, 'the third delivery to succeed', 10_000);
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((e) => e.id)).size).toBe(1);
    expect(done[0].data).toEqual(report);
    await waitFor(async () => (await info()).num_ack_pending === 0, 'the final ack', 10_000);
    expect(attempts).toHaveLength(3);
    await consumer.close();
  });

  it('validates requests and replies both ways', async () => {
    const server = await connect('server');
    const client = await connect('client');
    const served: RegisterRunner[] = [];
    server.serve(
      Subjects.runnerRegister,
      RegisterRunner,
      (data) => {
        served.push(data);
        if (data.name === 'explode') return Promise.reject(new Error('boom'));
        return Promise.resolve({ ok: true, message: `welcome ${data.name}` });
      },
      replies,
    );
    // Answers with something that is not a RegistryReply.
    server.serve(
      Subjects.runnerDeregister,
      RegisterRunner.pick({ runnerId: true }),
      () => Promise.resolve<unknown>({ ok: 'certainly' }),
      replies,
    );
    await server.connection.flush();
    const register: RegisterRunner = {
      runnerId: 'runner-1',
      name: 'one',
      slots: 2,
      capabilities: [],
      heartbeatIntervalMs: 1000,
    };

    await expect(
      client.request(Subjects.runnerRegister, register, RegistryReply, 5_000),
    ).resolves.toEqual({ ok: true, message: 'welcome one' });

    const refused = await client.request(
      Subjects.runnerRegister,
      { ...register, runnerId: 'not a valid id!', slots: 0 },
      RegistryReply,
      5_000,
    );
    expect(refused.ok).toBe(false);
    expect(refused.message).toContain('data.runnerId');
    expect(refused.message).toContain('data.slots');

    const notJson = await client.connection.request(
      client.subject(Subjects.runnerRegister),
      new TextEncoder().encode('{{{'),
      { timeout: 5_000 },
    );
    expect(codec.decode(notJson.data)).toMatchObject({
      data: { ok: false, message: 'body is not JSON' },
    });

    await expect(
      client.request(
        Subjects.runnerRegister,
        { ...register, name: 'explode' },
        RegistryReply,
        5_000,
      ),
    ).resolves.toEqual({ ok: false, message: 'internal error' });
    expect(served.map((s) => s.name)).toEqual(['one', 'explode']);

    await expect(
      client.request(Subjects.runnerDeregister, { runnerId: 'runner-1' }, RegistryReply, 5_000),
    ).rejects.toThrow(MessagingError);
    await Promise.all([server.close(), client.close()]);
  });

  it('carries the publisher trace into the JetStream handler', async () => {
    await consumerFor('traced', Subjects.runLogAppended);
    const consumer = await connect('consumer');
    const seen: { traceId: string; spanId: string }[] = [];
    consumer.consumeForever(
      'reports',
      'traced',
      {
        [Subjects.runLogAppended]: {
          schema: RunLogAppended,
          handle: () => {
            const ctx = trace.getActiveSpan()?.spanContext();
            if (ctx) seen.push({ traceId: ctx.traceId, spanId: ctx.spanId });
            return Promise.resolve();
          },
        },
      },
      { max: 10 },
    );

    const sent = await tracer().startActiveSpan('publish in a test', async (span) => {
      await bus.publish(Subjects.runLogAppended, logBatch());
      span.end();
      return span.spanContext();
    });

    await waitFor(() => seen.length === 1, 'the traced message', 10_000);
    expect(seen[0].traceId).toBe(sent.traceId);
    expect(seen[0].spanId).not.toBe(sent.spanId);
    const handlerSpan = await waitFor(
      () => exporter.getFinishedSpans().find((s) => s.spanContext().spanId === seen[0].spanId),
      'the handler span to be exported',
      10_000,
    );
    expect(handlerSpan.name).toBe(`process ${Subjects.runLogAppended}`);
    expect(handlerSpan.parentSpanContext?.spanId).toBe(sent.spanId);
    await consumer.close();
  });

  it('carries the trace over core NATS and request/reply too', async () => {
    const server = await connect('server');
    const seen: string[] = [];
    const record = () => {
      const id = trace.getActiveSpan()?.spanContext().traceId;
      if (id) seen.push(id);
      return Promise.resolve();
    };
    server.subscribe(Subjects.runnerHeartbeat, RegisterRunner.pick({ runnerId: true }), record);
    server.serve(
      Subjects.runnerRegister,
      RegisterRunner,
      () => record().then(() => ({ ok: true })),
      replies,
    );
    await server.connection.flush();

    const traceId = await tracer().startActiveSpan('call in a test', async (span) => {
      bus.emit(Subjects.runnerHeartbeat, { runnerId: 'runner-1' });
      await bus.request(
        Subjects.runnerRegister,
        { runnerId: 'runner-1', name: 'one', slots: 1, capabilities: [], heartbeatIntervalMs: 10 },
        RegistryReply,
        5_000,
      );
      span.end();
      return span.spanContext().traceId;
    });

    await waitFor(() => seen.length === 2, 'both messages', 10_000);
    expect(seen).toEqual([traceId, traceId]);
    await server.close();
  });

  it('names a handler span by its subject template: a project pool’s id stays out of it', async () => {
    const server = await connect('pool-server');
    const project = randomUUID();
    const subject = workSubject(project);
    server.subscribe(subject, RegisterRunner.pick({ runnerId: true }), () => Promise.resolve());
    await server.connection.flush();
    bus.emit(subject, { runnerId: 'runner-1' });
    const span = await waitFor(
      () =>
        exporter
          .getFinishedSpans()
          .find((s) => s.attributes['messaging.destination.name'] === subject),
      'the handler span',
      10_000,
    );
    expect(span.name).toBe(`process ${Subjects.runDispatched}.pool.{project}`);
    expect(span.name).not.toContain(project);
    await server.close();
  });

  it('gives a stream that exists with fewer subjects the ones added since, keeping its messages', async () => {
    const jsm = await bus.connection.jetstreamManager();
    const name = bus.streamName('reports');
    const added = bus.subject(Subjects.runArtifactStored);
    // The stream as a release before artifacts created it, with a report stored in it.
    await jsm.streams.update(name, {
      subjects: Streams.reports.subjects.map((s) => bus.subject(s)).filter((s) => s !== added),
    });
    await bus.publish(Subjects.runFinished, runFinished());
    const before = await jsm.streams.info(name);
    expect(before.config.subjects).not.toContain(added);

    const next = await connect('next-release');
    await next.ensureStreams(['reports']);

    const after = await jsm.streams.info(name);
    expect(after.config.subjects).toEqual(Streams.reports.subjects.map((s) => bus.subject(s)));
    expect(after.created).toBe(before.created);
    expect(after.state.messages).toBe(before.state.messages);
    const stored: RunArtifactStored = {
      runId: randomUUID(),
      leaseToken: randomUUID(),
      runnerId: 'runner-1',
      artifact: {
        name: 'diff.patch',
        kind: 'diff',
        size: 0,
        sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
        contentType: 'text/x-diff',
      },
      storedAt: new Date().toISOString(),
    };
    await next.publish(Subjects.runArtifactStored, stored);
    expect((await jsm.streams.info(name)).state.messages).toBe(before.state.messages + 1);
    await jsm.streams.purge(name);
  });
});
