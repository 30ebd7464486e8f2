import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import WebSocket from 'ws';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { GatewayConfigSchema, loadConfig, OrchestratorConfigSchema } from '@drover/config';
import {
  ArtifactStored,
  RunArtifactStored,
  Subjects,
  SubmitTicket,
  type ArtifactKind,
  type StreamEvent,
} from '@drover/contracts';
import { NatsBus } from '@drover/messaging';
import { LocalArtifactStore } from '@drover/storage';
import { createTestEnv, POLICY_DEFAULTS, waitFor, type TestEnv } from '@drover/testing';
import { ApiKeys, CreateTicket, DEFAULT_PROJECT, RecordArtifact } from '@drover/workflow';
import { createGateway } from '@drover/app-gateway';
import { OrchestratorModule } from '@drover/app-orchestrator';
import { drover as runCli } from './support/cli';

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}
interface Listing {
  items: {
    name: string;
    kind: string;
    size: number;
    sha256: string;
    contentType: string;
    createdAt: string;
    url: string;
  }[];
}
interface Run {
  id: string;
  leaseToken: string;
  taskId: string;
  ticketId: string;
}

let env: TestEnv;
let dir: string;
let store: LocalArtifactStore;
let gateway: NestExpressApplication;
let baseUrl: string;
let apiKey: string;
let orchestrator: INestApplicationContext;
let bus: NatsBus;
let record: RecordArtifact;

beforeAll(async () => {
  env = await createTestEnv();
  dir = await mkdtemp(join(tmpdir(), 'drover-artifacts-api-'));
  store = new LocalArtifactStore(dir);
  const vars = {
    ...env.env,
    LOG_LEVEL: 'warn',
    GATEWAY_PORT: '0',
    GATEWAY_EVENT_POLL_MS: '100',
    DROVER_RELAY_POLL_MS: '50',
    DROVER_ARTIFACTS: pathToFileURL(dir).href,
  };
  // The orchestrator consumes runner reports and relays the events the gateway streams.
  orchestrator = await NestFactory.createApplicationContext(
    OrchestratorModule.register(loadConfig(OrchestratorConfigSchema, vars)),
    { logger: ['error'] },
  );
  await orchestrator.init();
  gateway = await createGateway(loadConfig(GatewayConfigSchema, vars));
  gateway.useLogger(['error']);
  await gateway.listen(0, '127.0.0.1');
  const { port } = gateway.getHttpServer().address() as { port: number };
  baseUrl = `http://127.0.0.1:${port}`;
  // Where a runner sends its reports.
  bus = await NatsBus.connect({ url: env.natsUrl, prefix: env.subjectPrefix, service: 'runner' });
  await bus.ensureStreams(['reports']);
  record = new RecordArtifact(env.prisma);
  ({ key: apiKey } = await new ApiKeys(env.prisma).issue({
    projectId: DEFAULT_PROJECT.id,
    name: 'artifacts-api',
    role: 'viewer',
  }));
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await orchestrator?.close();
  await bus?.close();
  await env?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A ticket with one task and a leased run of it, as the scheduler leaves them. */
async function newRun(): Promise<Run> {
  const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
    SubmitTicket.parse({ title: 'artifacts', tasks: [{ key: 'a', steps: [{ run: 'true' }] }] }),
  );
  if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
  const task = await env.prisma.task.findFirstOrThrow({ where: { ticketId: reply.ticketId } });
  const run = await env.prisma.run.create({
    data: {
      id: randomUUID(),
      taskId: task.id,
      ticketId: task.ticketId,
      projectId: task.projectId,
      attempt: 1,
      leaseToken: randomUUID(),
      runnerId: 'runner-1',
    },
  });
  return { id: run.id, leaseToken: run.leaseToken, taskId: run.taskId, ticketId: run.ticketId };
}

/**
 * What a runner does: put the content in the store, then report it. Recorded here
 * with the orchestrator's use case directly, so that a test can read it at once.
 */
async function storeArtifact(
  run: Run,
  name: string,
  body: Buffer | string,
  contentType: string,
  kind: ArtifactKind = 'file',
) {
  const meta = await store.put(run.id, name, body, contentType);
  expect(await record.execute(reportOf(run, { ...meta, kind }))).toBe(true);
  return meta;
}

function reportOf(
  run: Run,
  a: { name: string; kind: ArtifactKind; size: number; sha256: string; contentType: string },
): RunArtifactStored {
  return RunArtifactStored.parse({
    runId: run.id,
    leaseToken: run.leaseToken,
    runnerId: 'runner-1',
    artifact: a,
    storedAt: new Date().toISOString(),
  });
}

async function call(path: string) {
  const res = await fetch(`${baseUrl}${path}`, { headers: { authorization: `Bearer ${apiKey}` } });
  const bytes = Buffer.from(await res.arrayBuffer());
  return { status: res.status, headers: res.headers, bytes };
}

async function json<T>(path: string): Promise<{ status: number; body: T }> {
  const res = await call(path);
  return { status: res.status, body: JSON.parse(res.bytes.toString('utf8')) as T };
}

/** GET with the path sent exactly as written (fetch would resolve `..` and re-encode). */
function rawGet(path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${apiKey}` };
    const req = request(`${baseUrl}/`, { path, method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('run artifacts API', () => {
  let run: Run;
  const diff = 'diff --git a/x.txt b/x.txt\n--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-a\n+b\n';
  const binary = randomBytes(70_000);

  beforeAll(async () => {
    run = await newRun();
    await storeArtifact(run, 'diff.patch', diff, 'text/x-diff; charset=utf-8', 'diff');
    await storeArtifact(run, 'iteration-1.log', 'step 1\nstep 2\n', 'text/plain', 'log');
    await storeArtifact(run, 'model.bin', binary, 'application/octet-stream');
    // In the store, but never recorded for the run: must never be served.
    await store.put(run.id, 'unrecorded.txt', 'not recorded', 'text/plain');
  });

  it('lists the recorded artifacts with their size, digest, type and download URL', async () => {
    const { status, body } = await json<Listing>(`/runs/${run.id}/artifacts`);

    expect(status).toBe(200);
    expect(body.items.map((a) => [a.name, a.kind, a.size, a.contentType])).toEqual([
      ['diff.patch', 'diff', Buffer.byteLength(diff), 'text/x-diff; charset=utf-8'],
      ['iteration-1.log', 'log', 14, 'text/plain'],
      ['model.bin', 'file', binary.length, 'application/octet-stream'],
    ]);
    for (const item of body.items) {
      expect(item.sha256).toMatch(/^[a-f0-9]{64}$/);
      expect(new Date(item.createdAt).getTime()).not.toBeNaN();
      expect(item.url).toBe(`/runs/${run.id}/artifacts/${item.name}`);
    }
    const downloaded = await call(body.items[2].url);
    expect(downloaded.bytes.equals(binary)).toBe(true);
  });

  it('lists an empty page for a run without artifacts', async () => {
    const empty = await newRun();
    expect(await json<Listing>(`/runs/${empty.id}/artifacts`)).toEqual({
      status: 200,
      body: { items: [] },
    });
  });

  it('streams an artifact with its type, length and as an attachment', async () => {
    const res = await call(`/runs/${run.id}/artifacts/model.bin`);

    expect(res.status).toBe(200);
    expect(res.bytes.equals(binary)).toBe(true);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-length')).toBe(String(binary.length));
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="model.bin"');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');

    const log = await call(`/runs/${run.id}/artifacts/iteration-1.log`);
    expect(log.bytes.toString('utf8')).toBe('step 1\nstep 2\n');
    // The recorded type exactly, without a charset Express would have added.
    expect(log.headers.get('content-type')).toBe('text/plain');
  });

  it("serves the run's diff as text/x-diff", async () => {
    const res = await call(`/runs/${run.id}/diff`);

    expect(res.status).toBe(200);
    expect(res.bytes.toString('utf8')).toBe(diff);
    expect(res.headers.get('content-type')).toBe('text/x-diff; charset=utf-8');
    expect(res.headers.get('content-length')).toBe(String(Buffer.byteLength(diff)));
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  it('answers 404 saying so when the run has no diff yet', async () => {
    const fresh = await newRun();
    await storeArtifact(fresh, 'iteration-1.log', 'only a log', 'text/plain', 'log');

    const { status, body } = await json<ErrorBody>(`/runs/${fresh.id}/diff`);

    expect(status).toBe(404);
    expect(body.error.code).toBe('NO_DIFF');
    expect(body.error.message).toContain(`run ${fresh.id} has no diff yet`);
  });

  it('never serves a name the run did not record, even when the store has it', async () => {
    const other = await newRun();
    await storeArtifact(other, 'secret.txt', 'of another run', 'text/plain');

    for (const path of [
      `/runs/${run.id}/artifacts/unrecorded.txt`,
      `/runs/${run.id}/artifacts/secret.txt`,
      `/runs/${run.id}/artifacts/missing.log`,
    ]) {
      const { status, body } = await json<ErrorBody>(path);
      expect([path, status, body.error.code]).toEqual([path, 404, 'NOT_FOUND']);
      expect(body.error.message).toMatch(/has no artifact named/);
    }
  });

  it('answers 404 when a recorded artifact is missing from the store', async () => {
    const gone = await newRun();
    await storeArtifact(gone, 'result.json', '{}', 'application/json', 'result');
    await store.removeRun(gone.id);

    const { status, body } = await json<ErrorBody>(`/runs/${gone.id}/artifacts/result.json`);

    expect(status).toBe(404);
    expect(body.error.code).toBe('ARTIFACT_CONTENT_MISSING');
  });

  // Each is a name that must never reach the store: 400 naming what is wrong (Express
  // refuses what it cannot percent-decode), or 404 when the path no longer matches the
  // route at all. Never 200, never 500.
  it.each([
    ['../x', 404, 'NOT_FOUND'],
    ['..', 400, 'INVALID_ARTIFACT_NAME'],
    ['.', 400, 'INVALID_ARTIFACT_NAME'],
    ['..%2f..%2fetc%2fpasswd', 400, 'INVALID_ARTIFACT_NAME'],
    ['..%2F..%2F..%2Fetc%2Fpasswd', 400, 'INVALID_ARTIFACT_NAME'],
    ['%2e%2e', 400, 'INVALID_ARTIFACT_NAME'],
    ['%2e%2e%2f%2e%2e%2fetc%2fpasswd', 400, 'INVALID_ARTIFACT_NAME'],
    ['%252e%252e%252fetc%252fpasswd', 400, 'INVALID_ARTIFACT_NAME'],
    ['%2fetc%2fpasswd', 400, 'INVALID_ARTIFACT_NAME'],
    ['%2Fetc%2Fpasswd', 400, 'INVALID_ARTIFACT_NAME'],
    ['..%5c..%5cwindows%5cwin.ini', 400, 'INVALID_ARTIFACT_NAME'],
    ['C:%5cWindows%5cwin.ini', 400, 'INVALID_ARTIFACT_NAME'],
    ['x%00', 400, 'INVALID_ARTIFACT_NAME'],
    ['diff.patch%00.txt', 400, 'INVALID_ARTIFACT_NAME'],
    ['%00', 400, 'INVALID_ARTIFACT_NAME'],
    ['.hidden', 400, 'INVALID_ARTIFACT_NAME'],
    ['-rf', 400, 'INVALID_ARTIFACT_NAME'],
    ['%ef%bc%8e%ef%bc%8e%ef%bc%8fx', 400, 'INVALID_ARTIFACT_NAME'],
    ['x%0d%0aSet-Cookie:%20a=b', 400, 'INVALID_ARTIFACT_NAME'],
    ['a%20b', 400, 'INVALID_ARTIFACT_NAME'],
    ['%', 400, 'BAD_REQUEST'],
    ['%zz', 400, 'BAD_REQUEST'],
    ['a'.repeat(129), 400, 'INVALID_ARTIFACT_NAME'],
    ['a/b', 404, 'NOT_FOUND'],
    ['..;', 400, 'INVALID_ARTIFACT_NAME'],
    ['..;/x', 404, 'NOT_FOUND'],
  ])('refuses the artifact name %s with %i %s', async (name, status, code) => {
    const res = await rawGet(`/runs/${run.id}/artifacts/${name}`);

    expect(res.status).toBe(status);
    const { error } = JSON.parse(res.body) as ErrorBody;
    expect(error.code).toBe(code);
    if (code === 'INVALID_ARTIFACT_NAME') expect(error.message).toMatch(/^invalid artifact name /);
  });

  it('names the problem with a refused artifact name', async () => {
    const { status, body } = await json<ErrorBody>(
      `/runs/${run.id}/artifacts/..%2f..%2fetc%2fpasswd`,
    );

    expect(status).toBe(400);
    expect(body.error.code).toBe('INVALID_ARTIFACT_NAME');
    expect(body.error.message).toBe(
      'invalid artifact name "../../etc/passwd": contains a path separator "/" (names are flat) at position 2 (allowed: A-Z a-z 0-9 . _ -)',
    );
    expect(body.error.details?.map((d) => d.path)).toEqual(['path.name']);
  });

  it.each(['artifacts', 'artifacts/diff.patch', 'diff'])(
    'answers 404 under an unknown run and 400 under a malformed id for %s',
    async (rest) => {
      const unknown = randomUUID();
      const missing = await json<ErrorBody>(`/runs/${unknown}/${rest}`);
      expect(missing.status).toBe(404);
      expect(missing.body.error.message).toBe(`no run with id ${unknown}`);

      const malformed = await json<ErrorBody>(`/runs/not-a-uuid/${rest}`);
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.details?.map((d) => d.path)).toContain('path.id');
    },
  );

  it('documents the three routes in OpenAPI', async () => {
    const { body } = await json<{ paths: Record<string, Record<string, unknown>> }>('/docs-json');
    for (const path of ['/runs/{id}/artifacts', '/runs/{id}/artifacts/{name}', '/runs/{id}/diff']) {
      expect(Object.keys(body.paths[path] ?? {})).toEqual(['get']);
    }
  });
});

describe('artifact reports over NATS', () => {
  it('are recorded by the orchestrator from the reports stream and then served', async () => {
    const run = await newRun();
    const meta = await store.put(run.id, 'diff.patch', '+over nats\n', 'text/x-diff');

    await bus.publish(Subjects.runArtifactStored, reportOf(run, { ...meta, kind: 'diff' }));

    const listed = await waitFor(async () => {
      const page = await json<Listing>(`/runs/${run.id}/artifacts`);
      return page.body.items.length > 0 && page.body;
    }, 'the reported artifact to be listed');
    expect(listed.items.map((a) => [a.name, a.sha256])).toEqual([['diff.patch', meta.sha256]]);
    expect((await call(`/runs/${run.id}/diff`)).bytes.toString('utf8')).toBe('+over nats\n');
  });
});

describe('artifact.stored on the WebSocket stream', () => {
  it('delivers an artifact recorded through RecordArtifact to a client of its ticket', async () => {
    const run = await newRun();
    const ws = new WebSocket(
      `${baseUrl.replace('http', 'ws')}/events?ticket=${run.ticketId}&since=0`,
      { headers: { authorization: `Bearer ${apiKey}` } },
    );
    const received: StreamEvent[] = [];
    ws.on('message', (raw: Buffer) =>
      received.push(JSON.parse(raw.toString('utf8')) as StreamEvent),
    );
    try {
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const meta = await storeArtifact(run, 'iteration-1.log', 'hello\n', 'text/plain', 'log');

      const event = await waitFor(
        () => received.find((e) => e.type === 'artifact.stored'),
        'artifact.stored on the stream',
      );

      expect(event).toMatchObject({ type: 'artifact.stored', ticketId: run.ticketId });
      expect(ArtifactStored.strict().parse(event.data)).toEqual({
        runId: run.id,
        taskId: run.taskId,
        ticketId: run.ticketId,
        name: 'iteration-1.log',
        kind: 'log',
        size: meta.size,
        sha256: meta.sha256,
        contentType: 'text/plain',
      });
    } finally {
      ws.close();
    }
  });
});

describe('drover CLI', () => {
  let run: Run;
  const diff = 'diff --git a/y b/y\n+added\n';

  beforeAll(async () => {
    run = await newRun();
    await storeArtifact(run, 'diff.patch', diff, 'text/x-diff; charset=utf-8', 'diff');
    await storeArtifact(run, 'result.json', '{"ok":true}', 'application/json', 'result');
  });

  const drover = (...args: string[]) => runCli(baseUrl, apiKey, ...args);

  it('lists, downloads and prints a diff, and exits 3 for an unknown name', async () => {
    const listed = await drover('--json', 'artifacts', run.id);
    expect(listed.code).toBe(0);
    const page = JSON.parse(listed.stdout.toString('utf8')) as Listing;
    expect(page.items.map((a) => a.name)).toEqual(['diff.patch', 'result.json']);

    const human = await drover('artifacts', run.id);
    expect(human.stdout.toString('utf8')).toMatch(/^NAME\s+KIND\s+SIZE/);
    expect(human.stdout.toString('utf8')).toMatch(/result\.json\s+result\s+11 B/);

    const file = join(dir, 'downloaded.json');
    const saved = await drover('artifact', run.id, 'result.json', '-o', file);
    expect(saved.code).toBe(0);
    expect(await readFile(file, 'utf8')).toBe('{"ok":true}');

    const printed = await drover('diff', run.id);
    expect(printed).toMatchObject({ code: 0 });
    expect(printed.stdout.toString('utf8')).toBe(diff);

    const unknown = await drover('artifact', run.id, 'nope.txt');
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toContain(`run ${run.id} has no artifact named nope.txt`);
  }, 60_000);
});
