import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  CreateBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { artifactStoreFrom } from './artifact-store-config';
import { S3ArtifactStore } from './s3-artifact-store';
import { ArtifactNotFoundError } from './storage.errors';

// A real S3-compatible server: s3rver (an npm devDependency, objects as files in
// a temporary directory) in its own process on a free loopback port. It needs
// OpenSSL's legacy provider: its ListObjectsV2 continuation tokens use DES.
const SERVER = `
const S3rver = require(process.argv[1]);
new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.argv[2] })
  .run()
  .then(({ port }) => console.log('listening on port ' + port), (err) => {
    console.error(err);
    process.exit(1);
  });
// Ends with the test process however that ends: its end of stdin closes.
process.stdin.on('end', () => process.exit(0)).resume();
`;
const BUCKET = 'drover-artifacts';
// s3rver checks the access key id (not V4 signatures).
const credentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
let dir: string;
let server: ChildProcessWithoutNullStreams;
let endpoint: string;
let raw: S3Client;
const stores: S3ArtifactStore[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-s3rver-'));
  const main = require.resolve('s3rver');
  server = spawn(process.execPath, ['--openssl-legacy-provider', '-e', SERVER, main, dir]);
  endpoint = `http://127.0.0.1:${await portOf(server)}`;
  raw = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  await raw.send(new CreateBucketCommand({ Bucket: BUCKET }));
});

afterAll(async () => {
  for (const store of stores) store.destroy();
  raw?.destroy();
  if (server && server.exitCode === null) {
    const exited = once(server, 'exit');
    server.stdin.end();
    await exited;
  }
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The port the server says it listens on; fails with its output if it says otherwise. */
async function portOf(child: ChildProcessWithoutNullStreams): Promise<number> {
  let errors = '';
  child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const timeout = setTimeout(() => child.kill(), 15_000);
  try {
    for await (const line of createInterface({ input: child.stdout })) {
      const port = /^listening on port (\d+)$/.exec(line)?.[1];
      if (port !== undefined) return Number(port);
    }
  } finally {
    clearTimeout(timeout);
  }
  throw new Error(`s3rver did not start: ${errors || `exit code ${child.exitCode}`}`);
}

function storeWith(prefix: string, bucket = BUCKET): S3ArtifactStore {
  const store = new S3ArtifactStore({
    bucket,
    prefix,
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials,
  });
  stores.push(store);
  return store;
}

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await raw.send(
      new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).flatMap((o) => (o.Key ? [o.Key] : [])));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  return Buffer.concat(chunks);
}

describe(S3ArtifactStore, () => {
  it('stores an artifact under <prefix>/<runId>/<name> and opens it again', async () => {
    const prefix = `p-${randomUUID()}`;
    const store = storeWith(`/${prefix}/`);
    const run = randomUUID();
    const body = Buffer.from('{"tests":42}');

    const meta = await store.put(run, 'report.json', body, 'application/json');

    expect(meta).toEqual({
      name: 'report.json',
      size: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      contentType: 'application/json',
    });
    expect(await keysUnder(prefix)).toEqual([`${prefix}/${run}/report.json`]);
    const got = await store.get(run.toUpperCase(), 'report.json');
    expect(got.meta).toEqual({ size: body.length, contentType: 'application/json' });
    expect(await readAll(got.body)).toEqual(body);
  });

  it('replaces an artifact of the same name', async () => {
    const store = storeWith(`p-${randomUUID()}`);
    const run = randomUUID();
    await store.put(run, 'out.log', 'first, and longer', 'text/plain');
    await store.put(run, 'out.log', 'héllo', 'text/plain; charset=utf-8');
    const got = await store.get(run, 'out.log');
    expect(got.meta).toEqual({ size: 6, contentType: 'text/plain; charset=utf-8' });
    expect((await readAll(got.body)).toString()).toBe('héllo');
  });

  it('throws ArtifactNotFoundError for a missing artifact', async () => {
    const store = storeWith(`p-${randomUUID()}`);
    const run = randomUUID();
    await expect(store.get(run, 'none.txt')).rejects.toThrow(ArtifactNotFoundError);
    await store.put(run, 'a.txt', 'x', 'text/plain');
    await expect(store.get(run, 'b.txt')).rejects.toThrow(ArtifactNotFoundError);
  });

  it('does not mistake a missing bucket for a missing artifact', async () => {
    const store = storeWith('p', 'no-such-bucket');
    const failure = store.get(randomUUID(), 'a.txt');
    await expect(failure).rejects.toThrow();
    await expect(failure).rejects.not.toBeInstanceOf(ArtifactNotFoundError);
  });

  it('refuses bad names and run ids before sending anything', async () => {
    const prefix = `p-${randomUUID()}`;
    const store = storeWith(prefix);
    const run = randomUUID();
    await expect(store.put(run, '../x', 'x', 'text/plain')).rejects.toMatchObject({
      code: 'INVALID_ARTIFACT_NAME',
    });
    await expect(store.put('..', 'x', 'x', 'text/plain')).rejects.toMatchObject({
      code: 'INVALID_RUN_ID',
    });
    await expect(store.get(run, '%2e%2e%2fx')).rejects.toMatchObject({
      code: 'INVALID_ARTIFACT_NAME',
    });
    expect(await keysUnder(prefix)).toEqual([]);
  });

  it("removes one run's artifacts only, past one page of 1,000 keys, and again without complaint", async () => {
    const prefix = `p-${randomUUID()}`;
    const store = storeWith(prefix);
    const [run, other] = [randomUUID(), randomUUID()];
    // Written directly: 1,001 puts through the store would only be slower.
    const names = Array.from({ length: 1001 }, (_, i) => `f${i}.txt`);
    for (let i = 0; i < names.length; i += 50) {
      await Promise.all(
        names
          .slice(i, i + 50)
          .map((name) =>
            raw.send(
              new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}/${run}/${name}`, Body: 'x' }),
            ),
          ),
      );
    }
    await store.put(other, 'keep.txt', 'kept', 'text/plain');
    // Another prefix's run of the same id is another store's.
    const neighbour = storeWith(`${prefix}-neighbour`);
    await neighbour.put(run, 'keep.txt', 'kept', 'text/plain');

    await store.removeRun(run);

    expect(await keysUnder(`${prefix}/`)).toEqual([`${prefix}/${other}/keep.txt`]);
    expect(await keysUnder(`${prefix}-neighbour/`)).toEqual([
      `${prefix}-neighbour/${run}/keep.txt`,
    ]);
    await store.removeRun(run);
    await store.removeRun(randomUUID());
  }, 60_000);

  it('is what artifactStoreFrom makes of an s3:// URL, credentials from the SDK chain', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
    try {
      const prefix = `p-${randomUUID()}`;
      const store = artifactStoreFrom({
        DROVER_ARTIFACTS: `s3://${BUCKET}/${prefix}/runs?endpoint=${endpoint}&region=us-east-1&forcePathStyle=true`,
      });
      expect(store).toBeInstanceOf(S3ArtifactStore);
      stores.push(store as S3ArtifactStore);
      const run = randomUUID();
      await store.put(run, 'a.txt', 'via url', 'text/plain');
      expect(await keysUnder(prefix)).toEqual([`${prefix}/runs/${run}/a.txt`]);
      expect((await readAll((await store.get(run, 'a.txt')).body)).toString()).toBe('via url');
      await store.removeRun(run);
      expect(await keysUnder(prefix)).toEqual([]);
    } finally {
      restore('AWS_ACCESS_KEY_ID', saved.id);
      restore('AWS_SECRET_ACCESS_KEY', saved.secret);
    }
  });
});

function restore(key: string, value: string | undefined): void {
  if (value === undefined) delete process.env[key];
  else process.env[key] = value;
}
