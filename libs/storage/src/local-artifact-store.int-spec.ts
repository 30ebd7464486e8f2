import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import {
  link,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore } from './local-artifact-store';
import { ArtifactNotFoundError, StorageError, UnsafeArtifactPathError } from './storage.errors';

let base: string;
let root: string;
let outside: string;
let store: LocalArtifactStore;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'drover-storage-'));
  outside = join(base, 'outside');
  await mkdir(outside);
});

beforeEach(async () => {
  root = join(base, `root-${randomUUID()}`);
  store = new LocalArtifactStore(root);
  await writeFile(join(outside, 'secret'), 'top secret');
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  }
  return Buffer.concat(chunks);
}

async function getBody(runId: string, name: string): Promise<Buffer> {
  return readAll((await store.get(runId, name)).body);
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

describe(LocalArtifactStore, () => {
  it('stores an artifact and opens it again with its size and content type', async () => {
    const run = randomUUID();
    const meta = await store.put(run, 'report.json', '{"ok":true}', 'application/json');
    expect(meta).toEqual({
      name: 'report.json',
      size: 11,
      sha256: sha256('{"ok":true}'),
      contentType: 'application/json',
    });
    const got = await store.get(run, 'report.json');
    expect(got.meta).toEqual({ size: 11, contentType: 'application/json' });
    expect((await readAll(got.body)).toString()).toBe('{"ok":true}');
  });

  it('measures strings as UTF-8 bytes and stores binary and empty bodies as they are', async () => {
    const run = randomUUID();
    expect((await store.put(run, 'u.txt', 'héllo', 'text/plain')).size).toBe(6);
    const binary = Buffer.from([0, 255, 10, 13, 0]);
    await store.put(run, 'b.bin', binary, 'application/octet-stream');
    await store.put(run, 'empty', '', 'text/plain');
    expect(await getBody(run, 'b.bin')).toEqual(binary);
    expect((await store.get(run, 'empty')).meta.size).toBe(0);
    expect((await getBody(run, 'empty')).length).toBe(0);
  });

  it('replaces an artifact of the same name, content type included', async () => {
    const run = randomUUID();
    await store.put(run, 'out.log', 'first version, longer', 'text/plain');
    await store.put(run, 'out.log', '{"second":1}', 'application/json');
    const got = await store.get(run, 'out.log');
    expect(got.meta).toEqual({ size: 12, contentType: 'application/json' });
    expect((await readAll(got.body)).toString()).toBe('{"second":1}');
    expect(await readdir(join(root, run))).toEqual(['out.log']);
  });

  it('keeps files under rootDir/<runId>/<name>, one run id however it is spelled', async () => {
    const run = randomUUID();
    await store.put(run.toUpperCase(), 'a.txt', 'x', 'text/plain');
    expect(await readdir(root)).toEqual([run]);
    expect((await getBody(run, 'a.txt')).toString()).toBe('x');
    expect((await stat(join(root, run, 'a.txt'))).mode & 0o777).toBe(0o600);
  });

  it('throws ArtifactNotFoundError for an unknown artifact, run or root', async () => {
    const run = randomUUID();
    await expect(store.get(run, 'none')).rejects.toThrow(ArtifactNotFoundError);
    await store.put(run, 'a', 'x', 'text/plain');
    await expect(store.get(run, 'b')).rejects.toThrow(new ArtifactNotFoundError(run, 'b').message);
    await expect(store.get(randomUUID(), 'a')).rejects.toThrow(ArtifactNotFoundError);
  });

  it('refuses bad names and run ids before touching the disk', async () => {
    await expect(store.put(randomUUID(), '../escape', 'x', 'text/plain')).rejects.toMatchObject({
      code: 'INVALID_ARTIFACT_NAME',
    });
    await expect(store.put('../../tmp', 'a', 'x', 'text/plain')).rejects.toMatchObject({
      code: 'INVALID_RUN_ID',
    });
    await expect(store.get(randomUUID(), '%2e%2e%2fsecret')).rejects.toMatchObject({
      code: 'INVALID_ARTIFACT_NAME',
    });
    await expect(store.removeRun('*')).rejects.toMatchObject({ code: 'INVALID_RUN_ID' });
    await expect(stat(root)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('removes every artifact of one run, and again without complaint', async () => {
    const [run, other] = [randomUUID(), randomUUID()];
    await store.put(run, 'a', '1', 'text/plain');
    await store.put(run, 'b', '2', 'text/plain');
    await store.put(other, 'a', '3', 'text/plain');
    await store.removeRun(run);
    await expect(store.get(run, 'a')).rejects.toThrow(ArtifactNotFoundError);
    expect(await readdir(root)).toEqual([other]);
    await store.removeRun(run);
    await store.removeRun(randomUUID());
    expect((await getBody(other, 'a')).toString()).toBe('3');
  });

  it('works when the root itself is reached through a symbolic link', async () => {
    const real = join(base, `real-${randomUUID()}`);
    await mkdir(real);
    const linked = join(base, `link-${randomUUID()}`);
    await symlink(real, linked);
    const viaLink = new LocalArtifactStore(linked);
    const run = randomUUID();
    await viaLink.put(run, 'a.txt', 'via link', 'text/plain');
    expect((await readFile(join(real, run, 'a.txt'))).toString()).toContain('via link');
    expect((await readAll((await viaLink.get(run, 'a.txt')).body)).toString()).toBe('via link');
  });

  it('refuses a relative root directory', () => {
    expect(() => new LocalArtifactStore('artifacts')).toThrow('must be an absolute path');
  });

  describe('against things put in its directory', () => {
    it('never follows a symbolic link put in place of an artifact', async () => {
      const run = randomUUID();
      await store.put(run, 'real', 'x', 'text/plain');
      const planted = join(root, run, 'report.txt');
      await symlink(join(outside, 'secret'), planted);

      await expect(store.get(run, 'report.txt')).rejects.toThrow(UnsafeArtifactPathError);
      await expect(store.get(run, 'report.txt')).rejects.toThrow('it is a symbolic link');
      await expect(store.put(run, 'report.txt', 'overwrite', 'text/plain')).rejects.toThrow(
        'a symbolic link is in its place',
      );
      expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('top secret');
      expect(await readlink(planted)).toBe(join(outside, 'secret'));
    });

    it('never follows a run directory replaced by a symbolic link', async () => {
      const run = randomUUID();
      await mkdir(root, { recursive: true });
      await symlink(outside, join(root, run));

      await expect(store.put(run, 'secret', 'overwrite', 'text/plain')).rejects.toThrow(
        'the run directory is a symbolic link',
      );
      await expect(store.put(run, 'new-file', 'x', 'text/plain')).rejects.toThrow(
        UnsafeArtifactPathError,
      );
      await expect(store.get(run, 'secret')).rejects.toThrow(UnsafeArtifactPathError);
      await expect(store.removeRun(run)).rejects.toThrow(UnsafeArtifactPathError);
      expect(await readdir(outside)).toEqual(['secret']);
      expect(await readFile(join(outside, 'secret'), 'utf8')).toBe('top secret');
    });

    it('refuses a hard link to a file outside', async () => {
      const run = randomUUID();
      await store.put(run, 'real', 'x', 'text/plain');
      await link(join(outside, 'secret'), join(root, run, 'linked'));
      await expect(store.get(run, 'linked')).rejects.toThrow('it has 2 hard links');
    });

    it('refuses a FIFO without blocking on it', async () => {
      const run = randomUUID();
      await store.put(run, 'real', 'x', 'text/plain');
      execFileSync('mkfifo', [join(root, run, 'pipe')]);
      await expect(store.get(run, 'pipe')).rejects.toThrow('it is not a regular file');
    });

    it('refuses a directory where an artifact should be', async () => {
      const run = randomUUID();
      await store.put(run, 'real', 'x', 'text/plain');
      await mkdir(join(root, run, 'dir'));
      await expect(store.get(run, 'dir')).rejects.toThrow('it is not a regular file');
      await expect(store.put(run, 'dir', 'x', 'text/plain')).rejects.toThrow(
        'something other than a file is in its place',
      );
    });

    it('refuses a file it did not write', async () => {
      const run = randomUUID();
      await store.put(run, 'real', 'x', 'text/plain');
      await writeFile(join(root, run, 'planted'), 'root:x:0:0::/root:/bin/sh\n');
      await expect(store.get(run, 'planted')).rejects.toMatchObject({
        code: 'CORRUPT_ARTIFACT',
      });
      await expect(store.get(run, 'planted')).rejects.toThrow(StorageError);
    });
  });

  it('ends concurrent puts of one name with one whole artifact, readers seeing only whole ones', async () => {
    const run = randomUUID();
    const size = 512 * 1024;
    // Body i is `size` bytes of the letter i, so a mix of two would show.
    const bodies = Array.from({ length: 16 }, (_, i) => Buffer.alloc(size, 65 + i));
    await store.put(run, 'big.bin', bodies[0], 'application/octet-stream');
    const isWhole = (data: Buffer) =>
      data.length === size && data.every((byte) => byte === data[0]);

    const [metas, reads] = await Promise.all([
      Promise.all(bodies.map((b) => store.put(run, 'big.bin', b, 'application/octet-stream'))),
      Promise.all(Array.from({ length: 16 }, () => getBody(run, 'big.bin'))),
    ]);

    expect(reads.filter((data) => !isWhole(data))).toHaveLength(0);
    const final = await getBody(run, 'big.bin');
    expect(isWhole(final)).toBe(true);
    expect(metas.map((m) => m.sha256)).toContain(sha256(final));
    expect(await readdir(join(root, run))).toEqual(['big.bin']);
  });
});
