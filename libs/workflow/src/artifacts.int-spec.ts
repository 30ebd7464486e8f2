import { createHash, randomUUID } from 'node:crypto';
import {
  ArtifactStored,
  RunArtifactStored,
  Subjects,
  SubmitTicket,
  type ArtifactInfo,
} from '@drover/contracts';
import {
  createTestEnv,
  POLICY_DEFAULTS,
  registerRunner,
  startReport,
  type LeaseRef,
  type TestEnv,
} from '@drover/testing';
import { TimerQueue } from '@drover/timers';
import { DEFAULT_PROJECT } from './access/projects';
import { ArtifactQueries } from './artifact-queries';
import { CreateTicket } from './use-cases/create-ticket';
import { Reconciler } from './use-cases/reconciler';
import { FireTimer } from './use-cases/fire-timer';
import { RecordArtifact } from './use-cases/record-artifact';
import { StartRun } from './use-cases/start-run';
import { leaseReadyTasks, newestRun } from './test-support/lease-ready-tasks';

const RUNNER = 'runner-1';

let env: TestEnv;
let timers: TimerQueue;
let startRun: StartRun;
let record: RecordArtifact;
let queries: ArtifactQueries;

beforeAll(async () => {
  env = await createTestEnv();
  timers = TimerQueue.create({ redisUrl: env.redisUrl, prefix: env.redisPrefix });
  startRun = new StartRun(env.prisma, timers, { leaseHeartbeats: 3, timeoutGraceMs: 1_000 });
  record = new RecordArtifact(env.prisma);
  queries = new ArtifactQueries(env.prisma);
  await registerRunner(env.prisma, RUNNER);
});

afterAll(async () => {
  await timers?.close();
  await env?.destroy();
});

/** A one-task ticket whose run is started on RUNNER; returns the ticket and the run. */
async function startedRun(key: string, maxAttempts = 1) {
  const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
    SubmitTicket.parse({
      title: 'artifacts',
      tasks: [{ key, steps: [{ run: 'true' }], retry: { max_attempts: maxAttempts } }],
    }),
  );
  if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
  await leaseReadyTasks(env.prisma);
  const run = await newestRun(env.prisma, reply.ticketId, key);
  expect((await startRun.execute(startReport(run, RUNNER))).ok).toBe(true);
  return { ticketId: reply.ticketId, run };
}

function info(name: string, content: string, extra: Partial<ArtifactInfo> = {}): ArtifactInfo {
  return {
    name,
    kind: name === 'diff.patch' ? 'diff' : 'log',
    size: Buffer.byteLength(content),
    sha256: createHash('sha256').update(content).digest('hex'),
    contentType: name === 'diff.patch' ? 'text/x-diff; charset=utf-8' : 'text/plain; charset=utf-8',
    ...extra,
  };
}

function report(run: LeaseRef, artifact: ArtifactInfo): RunArtifactStored {
  return RunArtifactStored.parse({
    runId: run.id,
    leaseToken: run.leaseToken,
    runnerId: RUNNER,
    artifact,
    storedAt: new Date().toISOString(),
  });
}

async function announced(runId: string) {
  const rows = await env.prisma.event.findMany({
    where: { subject: Subjects.artifactStored },
    orderBy: { id: 'asc' },
  });
  return rows.map((r) => ArtifactStored.parse(r.data)).filter((e) => e.runId === runId);
}

describe(RecordArtifact.name, () => {
  it('records an artifact and announces it in the outbox with its run, task and ticket', async () => {
    const { ticketId, run } = await startedRun('stored');
    const diff = info('diff.patch', 'diff --git a/x b/x\n');

    expect(await record.execute(report(run, diff))).toBe(true);

    const rows = await env.prisma.artifact.findMany({ where: { runId: run.id } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      name: 'diff.patch',
      kind: 'diff',
      size: BigInt(diff.size),
      sha256: diff.sha256,
      contentType: diff.contentType,
    });
    const events = await announced(run.id);
    expect(events).toEqual([{ ...diff, runId: run.id, taskId: run.taskId, ticketId }]);
    const row = await env.prisma.event.findFirstOrThrow({
      where: { subject: Subjects.artifactStored, ticketId },
    });
    expect(row.internal).toBe(false);
  });

  it('ignores an identical duplicate and announces nothing more', async () => {
    const { run } = await startedRun('duplicate');
    const log = info('iteration-1.log', 'hello\n');

    expect(await record.execute(report(run, log))).toBe(true);
    const events = await env.prisma.event.count();
    expect(await record.execute(report(run, log))).toBe(false);

    expect(await env.prisma.artifact.count({ where: { runId: run.id } })).toBe(1);
    expect(await env.prisma.event.count()).toBe(events);
    expect(await announced(run.id)).toHaveLength(1);
  });

  it('replaces size, digest and type when the same name is stored again with new content', async () => {
    const { run } = await startedRun('replaced');
    const first = info('result.json', '{}', { kind: 'result', contentType: 'application/json' });
    const second = info('result.json', '{"ok":true}', {
      kind: 'result',
      contentType: 'application/json; charset=utf-8',
    });

    expect(await record.execute(report(run, first))).toBe(true);
    expect(await record.execute(report(run, second))).toBe(true);

    const rows = await env.prisma.artifact.findMany({ where: { runId: run.id } });
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      size: BigInt(second.size),
      sha256: second.sha256,
      contentType: second.contentType,
    });
    expect((await announced(run.id)).map((e) => e.sha256)).toEqual([first.sha256, second.sha256]);
  });

  it('rejects a report with a stale lease token and writes nothing', async () => {
    const { run } = await startedRun('stale');
    const events = await env.prisma.event.count();

    const stale = { id: run.id, leaseToken: randomUUID() };
    expect(await record.execute(report(stale, info('diff.patch', 'x')))).toBe(false);

    expect(await env.prisma.artifact.count({ where: { runId: run.id } })).toBe(0);
    expect(await env.prisma.event.count()).toBe(events);
  });

  it('rejects a report for an unknown run and writes nothing', async () => {
    const events = await env.prisma.event.count();
    const unknown = { id: randomUUID(), leaseToken: randomUUID() };

    expect(await record.execute(report(unknown, info('diff.patch', 'x')))).toBe(false);

    expect(await env.prisma.artifact.count({ where: { runId: unknown.id } })).toBe(0);
    expect(await env.prisma.event.count()).toBe(events);
  });

  it('fences out a runner presumed lost, even with the run’s own lease token', async () => {
    const { run } = await startedRun('lost', 2);
    // The runner goes silent; its lease expires and the run ends RUNNER_LOST.
    await env.prisma.run.update({
      where: { id: run.id },
      data: { leaseExpiresAt: new Date(Date.now() - 1) },
    });
    const reconciler = new Reconciler(env.prisma, new FireTimer(env.prisma, timers), timers, {
      startDeadlineMs: 60_000,
      timerGraceMs: 1_000,
      batch: 100,
      leaseHeartbeats: 3,
    });
    expect(await reconciler.expireLeases()).toBe(1);
    expect(await env.prisma.run.findUniqueOrThrow({ where: { id: run.id } })).toMatchObject({
      errorClass: 'RUNNER_LOST',
    });
    const events = await env.prisma.event.count();

    expect(await record.execute(report(run, info('diff.patch', 'late')))).toBe(false);

    expect(await env.prisma.artifact.count({ where: { runId: run.id } })).toBe(0);
    expect(await env.prisma.event.count()).toBe(events);
  });

  it('applies a batch of reports in one transaction, each with its own result', async () => {
    const { run } = await startedRun('batch');
    const a = info('iteration-1.log', 'one\n');
    const b = info('iteration-2.log', 'two\n');

    const results = await record.executeMany([
      { report: report(run, a) },
      { report: report(run, a) },
      { report: report({ id: run.id, leaseToken: randomUUID() }, b) },
      { report: report(run, b) },
    ]);

    expect(results).toEqual([true, false, false, true]);
    expect((await announced(run.id)).map((e) => e.name)).toEqual([
      'iteration-1.log',
      'iteration-2.log',
    ]);
  });
});

describe(ArtifactQueries.name, () => {
  it('lists a run’s artifacts by name and finds one only under its own run', async () => {
    const { run } = await startedRun('queried');
    const { run: other } = await startedRun('other');
    await record.execute(report(run, info('iteration-1.log', 'log\n')));
    await record.execute(report(run, info('diff.patch', 'diff\n')));
    await record.execute(report(other, info('secret.txt', 'not yours', { kind: 'file' })));

    const listed = await queries.listForRun(DEFAULT_PROJECT.id, run.id);
    expect(listed?.map((a) => [a.name, a.kind, a.size])).toEqual([
      ['diff.patch', 'diff', 5],
      ['iteration-1.log', 'log', 4],
    ]);
    expect(listed?.[0]?.createdAt).toBeInstanceOf(Date);
    expect(await queries.listForRun(DEFAULT_PROJECT.id, randomUUID())).toBeNull();

    expect((await queries.find(DEFAULT_PROJECT.id, run.id, 'diff.patch')).artifact?.sha256).toBe(
      info('diff.patch', 'diff\n').sha256,
    );
    expect(await queries.find(DEFAULT_PROJECT.id, run.id, 'secret.txt')).toEqual({
      run: true,
      artifact: null,
    });
    expect(await queries.find(DEFAULT_PROJECT.id, randomUUID(), 'diff.patch')).toEqual({
      run: false,
      artifact: null,
    });
  });
});
