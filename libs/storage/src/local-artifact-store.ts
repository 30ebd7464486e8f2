import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import {
  digestBody,
  type ArtifactMeta,
  type ArtifactStore,
  type StoredArtifact,
} from './artifact-store';
import { checkArtifactName, checkContentType, checkRunId } from './artifact-validation';
import { decodeHeader, encodeHeader, MAX_HEADER_BYTES } from './local-artifact-format';
import {
  ArtifactNotFoundError,
  quote,
  StorageError,
  UnsafeArtifactPathError,
} from './storage.errors';

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_RDONLY, O_WRONLY } = constants;

/**
 * Artifacts as files under `rootDir/<runId>/<name>`. Writes go to a temporary
 * file (names starting with `.` are never artifact names) renamed over the
 * artifact, so a reader sees the old or the new artifact, never part of one.
 * Nothing in the directory is trusted: a symbolic link, FIFO or hard link where
 * an artifact or run directory should be is refused, never followed, and every
 * path is checked with realpath to stay inside `rootDir/<runId>/`.
 */
export class LocalArtifactStore implements ArtifactStore {
  readonly kind = 'local' as const;
  private readonly rootDir: string;

  constructor(rootDir: string) {
    if (typeof rootDir !== 'string' || !isAbsolute(rootDir)) {
      throw new StorageError(
        'INVALID_STORE_CONFIG',
        `the local artifact directory must be an absolute path, got ${quote(rootDir)}`,
      );
    }
    this.rootDir = resolve(rootDir);
  }

  async put(
    runId: string,
    name: string,
    body: Buffer | string,
    contentType: string,
  ): Promise<ArtifactMeta> {
    const run = checkRunId(runId);
    checkArtifactName(name);
    checkContentType(contentType);
    const { bytes, size, sha256 } = digestBody(body);
    const dir = await this.runDir(run, 'create');
    const target = join(dir, name);
    await refuseAnythingButAFile(target);
    const temp = join(dir, `.tmp-${randomBytes(12).toString('hex')}`);
    try {
      await writeNewFile(temp, [encodeHeader({ contentType, size, sha256 }), bytes]);
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
    await syncDirectory(dir);
    await checkResolvesTo(target, dir);
    return { name, size, sha256, contentType };
  }

  async get(runId: string, name: string): Promise<StoredArtifact> {
    const run = checkRunId(runId);
    checkArtifactName(name);
    const dir = await this.runDir(run, 'existing');
    if (dir === undefined) throw new ArtifactNotFoundError(run, name);
    const path = join(dir, name);
    let handle: FileHandle;
    try {
      // O_NONBLOCK: a FIFO put in place opens at once (and is refused) instead of hanging.
      handle = await open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    } catch (err) {
      if (hasCode(err, 'ENOENT')) throw new ArtifactNotFoundError(run, name);
      if (hasCode(err, 'ELOOP')) throw new UnsafeArtifactPathError(path, 'it is a symbolic link');
      throw err;
    }
    try {
      const stat = await handle.stat();
      if (!stat.isFile()) throw new UnsafeArtifactPathError(path, 'it is not a regular file');
      if (stat.nlink !== 1) {
        throw new UnsafeArtifactPathError(path, `it has ${stat.nlink} hard links`);
      }
      await checkResolvesTo(path, dir);
      const head = Buffer.alloc(Math.min(MAX_HEADER_BYTES, stat.size));
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      const decoded = decodeHeader(head.subarray(0, bytesRead));
      if (decoded === undefined || stat.size !== decoded.length + decoded.header.size) {
        throw new StorageError('CORRUPT_ARTIFACT', `${path} is not a whole stored artifact`);
      }
      const { size, contentType } = decoded.header;
      // The stream closes the file when it ends, fails or is destroyed.
      return {
        meta: { size, contentType },
        body: handle.createReadStream({ start: decoded.length }),
      };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async removeRun(runId: string): Promise<void> {
    const dir = await this.runDir(checkRunId(runId), 'existing');
    // rm unlinks symbolic links inside rather than following them.
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  }

  /**
   * The run's directory, checked to be a real directory right under the real
   * root; created (with the root) for 'create', undefined for 'existing' when absent.
   */
  private async runDir(run: string, mode: 'create'): Promise<string>;
  private async runDir(run: string, mode: 'existing'): Promise<string | undefined>;
  private async runDir(run: string, mode: 'create' | 'existing'): Promise<string | undefined> {
    if (mode === 'create') await mkdir(this.rootDir, { recursive: true, mode: 0o700 });
    const root = await realpathOrUndefined(this.rootDir);
    if (root === undefined) return undefined;
    const dir = join(root, run);
    if (mode === 'create') {
      await mkdir(dir, { mode: 0o700 }).catch((err: unknown) => {
        if (!hasCode(err, 'EEXIST')) throw err;
      });
    }
    const stat = await lstat(dir).catch((err: unknown) => {
      if (hasCode(err, 'ENOENT')) return undefined;
      throw err;
    });
    if (stat === undefined) return undefined;
    if (stat.isSymbolicLink()) {
      throw new UnsafeArtifactPathError(dir, 'the run directory is a symbolic link');
    }
    if (!stat.isDirectory()) {
      throw new UnsafeArtifactPathError(dir, 'the run directory is not a directory');
    }
    await checkResolvesTo(dir, root);
    return dir;
  }
}

/** Throws unless `path` is absent or a regular file (a link or directory there is tampering). */
async function refuseAnythingButAFile(path: string): Promise<void> {
  const stat = await lstat(path).catch((err: unknown) => {
    if (hasCode(err, 'ENOENT')) return undefined;
    throw err;
  });
  if (stat === undefined || stat.isFile()) return;
  throw new UnsafeArtifactPathError(
    path,
    stat.isSymbolicLink()
      ? 'a symbolic link is in its place'
      : 'something other than a file is in its place',
  );
}

/** Throws unless `path`, with every link resolved, is itself and directly inside `parent`. */
async function checkResolvesTo(path: string, parent: string): Promise<void> {
  const real = await realpath(path);
  if (real !== path || dirname(real) !== parent) {
    throw new UnsafeArtifactPathError(path, `it resolves to ${real}, not inside ${parent}`);
  }
}

/** Creates `path` (never through a link, never over anything) with `chunks`, flushed to disk. */
async function writeNewFile(path: string, chunks: Buffer[]): Promise<void> {
  const handle = await open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
  try {
    // Each writeFile continues where the previous one stopped.
    for (const chunk of chunks) await handle.writeFile(chunk);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Makes a rename in `dir` durable. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function realpathOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch (err) {
    if (hasCode(err, 'ENOENT')) return undefined;
    throw err;
  }
}

/** Duck-typed: errors from Node's fs may come from another realm (as under Jest). */
function hasCode(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}
