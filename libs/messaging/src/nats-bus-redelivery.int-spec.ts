import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { RunFinished, Subjects } from '@drover/contracts';
import { createTestEnv, finishReport, waitFor, type TestEnv } from '@drover/testing';
import { ACK_WAIT_MS, NatsBus } from './nats-bus';

let env: TestEnv;
let producer: NatsBus;
const opened: NatsBus[] = [];
const children: ChildProcess[] = [];

async function connect(service: string): Promise<NatsBus> {
  const b = await NatsBus.connect({ url: env.natsUrl, prefix: env.subjectPrefix, service });
  opened.push(b);
  return b;
}

beforeAll(async () => {
  env = await createTestEnv();
  producer = await connect('runner');
  await producer.ensureStreams(['reports']);
});

// The reports stream is a work queue: two consumers may not share a filter, so
// each test's consumer goes once it is over (with the buses that would re-create it).
const durables: string[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(1).map((b) => b.close()));
  const jsm = await producer.connection.jetstreamManager();
  for (const durable of durables.splice(0)) {
    await jsm.consumers.delete(producer.streamName('reports'), durable).catch(() => false);
  }
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  const jsm = await producer.connection.jetstreamManager();
  await jsm.streams.delete(producer.streamName('reports')).catch(() => false);
  await Promise.all(opened.map((b) => b.close()));
  await env?.destroy();
});

/**
 * Another process pulls one message of `durable` and never acknowledges it, as
 * an orchestrator does while it applies a batch; resolves once it has pulled.
 */
async function pullInAnotherProcess(durable: string): Promise<ChildProcess> {
  const script = `
    const { connect } = require('nats');
    (async () => {
      const nc = await connect({ servers: process.env.NATS_URL });
      const consumer = await nc.jetstream().consumers.get(process.env.STREAM, process.env.DURABLE);
      const msg = await consumer.next({ expires: 10000 });
      process.stdout.write(msg ? 'pulled\\n' : 'nothing\\n');
      setInterval(() => undefined, 1000);
    })();`;
  const child = spawn(process.execPath, ['-e', script], {
    env: {
      ...process.env,
      NATS_URL: env.natsUrl,
      STREAM: producer.streamName('reports'),
      DURABLE: durable,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const [line] = (await once(child.stdout, 'data')) as [Buffer];
  expect(line.toString().trim()).toBe('pulled');
  return child;
}

/** Handles finish reports of `durable` in this process; returns when each arrived. */
async function consume(durable: string, handle: () => Promise<void> = () => Promise.resolve()) {
  const arrivals: { runId: string; at: number }[] = [];
  const successor = await connect('orchestrator');
  successor.consumeForever(
    'reports',
    durable,
    {
      [Subjects.runFinished]: {
        schema: RunFinished,
        handle: async (report: RunFinished) => {
          arrivals.push({ runId: report.runId, at: Date.now() });
          await handle();
        },
      },
    },
    // Room to handle a redelivered copy beside the original, were there one.
    { max: 10, concurrency: 4 },
  );
  return arrivals;
}

async function finishReportConsumer(durable: string): Promise<void> {
  durables.push(durable);
  await producer.ensureConsumer('reports', durable, {
    filter_subject: producer.subject(Subjects.runFinished),
  });
}

describe('JetStream redelivery', () => {
  it('hands a finish report a killed consumer had pulled to its successor within seconds', async () => {
    await finishReportConsumer('killed-orchestrator');
    const report = finishReport();
    const msgId = `${report.leaseToken}:finished`;
    await producer.publish(Subjects.runFinished, report, { msgId });
    const killed = await pullInAnotherProcess('killed-orchestrator');

    killed.kill('SIGKILL');
    const killedAt = Date.now();
    // The runner sends it again; the broker drops the copy (same message id).
    await producer.publish(Subjects.runFinished, report, { msgId });
    const arrivals = await consume('killed-orchestrator');

    await waitFor(() => arrivals.length > 0, 'the report to reach the new consumer', 15_000);
    const afterMs = arrivals[0].at - killedAt;
    expect(arrivals.map((a) => a.runId)).toEqual([report.runId]);
    // Within the ack wait (and well under the 30 s it used to be).
    expect(afterMs).toBeLessThan(ACK_WAIT_MS + 2_000);
  }, 30_000);

  it('does not deliver again a message whose handler is still working past the ack wait', async () => {
    await finishReportConsumer('slow-handler');
    let done = false;
    const arrivals = await consume('slow-handler', async () => {
      await waitFor(() => done, 'the test to let the handler finish', ACK_WAIT_MS * 3);
    });
    const report = finishReport();
    await producer.publish(Subjects.runFinished, report);
    await waitFor(() => arrivals.length > 0, 'the report to arrive', 10_000);
    const first = arrivals[0].at;

    // Redelivery would come one ack wait after the delivery: give it two.
    await waitFor(() => Date.now() - first > ACK_WAIT_MS * 2, 'twice the ack wait', 15_000, 250);
    done = true;
    expect(arrivals).toHaveLength(1);
  }, 40_000);
});
