import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { ArtifactNotFoundError, type ArtifactStore } from '@drover/storage';
import { SnapshotError } from './snapshot-errors';
import { MAX_LISTING_LINE, SnapshotChecker, type SnapshotLimits } from './snapshot-listing';

// A snapshot is the whole workspace directory, `.git` included, as a gzipped tar
// made and read by the system's tar (gzip is done here, so that what is checked
// and what is extracted are the very same bytes, and so that a small archive
// cannot unpack to an unbounded stream). A tarball cannot be redacted: secrets a
// run wrote into files are in its snapshot, as they are in its workspace, and
// the artifact store holds them.

export const SNAPSHOT_ARTIFACT = 'workspace.tar.gz';
export const SNAPSHOT_CONTENT_TYPE = 'application/gzip';
/** Largest snapshot kept (and restored), compressed. */
export const MAX_SNAPSHOT_BYTES = 512 * 1024 * 1024;
export const DEFAULT_SNAPSHOT_LIMITS: SnapshotLimits = {
  maxEntries: 200_000,
  maxBytes: 2 * 1024 * 1024 * 1024,
};
/** Room in the tar stream for headers, long names and padding, beyond the files' bytes. */
const TAR_OVERHEAD_PER_ENTRY = 4 * 512;

/** Where tar and git are looked up: the system's directories, not the runner's configuration. */
export const SYSTEM_PATH = '/usr/local/bin:/usr/bin:/bin';
/**
 * Nothing from the runner's environment (TAR_OPTIONS would add options), and
 * the C locale: the listing is plain ASCII, every other byte an octal escape.
 */
const TAR_ENV = { PATH: SYSTEM_PATH, LC_ALL: 'C' };

export interface SnapshotOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  limits?: Partial<SnapshotLimits>;
}

/**
 * Packs the directory `dir` (everything in it: symlinks as symlinks, hard links
 * as separate files, sockets skipped by tar) into the new file `file`, which
 * must be outside `dir`. Refuses a snapshot over MAX_SNAPSHOT_BYTES.
 */
export async function snapshotWorkspace(
  dir: string,
  file: string,
  options: SnapshotOptions = {},
): Promise<{ size: number }> {
  await runTar({
    what: 'snapshotting the workspace',
    args: ['--create', '--file=-', `--directory=${dir}`, '--numeric-owner', '--hard-dereference'],
    operands: ['.'],
    output: [
      createGzip(),
      capped(
        MAX_SNAPSHOT_BYTES,
        () => `the workspace snapshot is over ${MAX_SNAPSHOT_BYTES / 2 ** 20} MiB`,
      ),
      createWriteStream(file, { flags: 'wx', mode: 0o600 }),
    ],
    ...options,
  });
  return { size: (await stat(file)).size };
}

/**
 * Lists the snapshot `file` with tar and refuses it (SnapshotError naming the
 * entry) unless every entry passes `SnapshotChecker`.
 */
export async function checkSnapshot(
  file: string,
  options: SnapshotOptions = {},
): Promise<{ entries: number; bytes: number }> {
  const limits = { ...DEFAULT_SNAPSHOT_LIMITS, ...options.limits };
  const checker = new SnapshotChecker(limits);
  await runTar({
    what: 'listing the workspace snapshot',
    args: ['--list', '--verbose', '--numeric-owner', '--quoting-style=c', '--file=-'],
    input: unpacked(file, limits),
    output: [lines((line) => checker.add(line))],
    ...options,
  });
  return checker.finish();
}

/**
 * Checks the snapshot `file`, then extracts it into the empty directory `dir`:
 * owned by the runner, modes under its umask (no setuid), nothing replaced.
 */
export async function restoreWorkspace(
  file: string,
  dir: string,
  options: SnapshotOptions = {},
): Promise<{ entries: number; bytes: number }> {
  const checked = await checkSnapshot(file, options);
  await runTar({
    what: 'restoring the workspace',
    args: [
      '--extract',
      '--file=-',
      `--directory=${dir}`,
      '--no-same-owner',
      '--no-same-permissions',
      '--keep-old-files',
      '--warning=no-timestamp',
    ],
    input: unpacked(file, { ...DEFAULT_SNAPSHOT_LIMITS, ...options.limits }),
    ...options,
  });
  return checked;
}

/** Downloads run `runId`'s snapshot to the new file `file`. */
export async function downloadSnapshot(
  store: ArtifactStore,
  runId: string,
  file: string,
): Promise<void> {
  const missing = () =>
    new SnapshotError(`the workspace of run ${runId} is not in the artifact store`);
  const stored = await store.get(runId, SNAPSHOT_ARTIFACT).catch((error: unknown) => {
    throw error instanceof ArtifactNotFoundError ? missing() : error;
  });
  const tooLarge = () =>
    `the workspace of run ${runId} is over ${MAX_SNAPSHOT_BYTES / 2 ** 20} MiB; it is not restored`;
  if (stored.meta.size > MAX_SNAPSHOT_BYTES) {
    (stored.body as Readable).destroy();
    throw new SnapshotError(tooLarge());
  }
  try {
    await pipeline(
      stored.body,
      capped(MAX_SNAPSHOT_BYTES, tooLarge),
      createWriteStream(file, { flags: 'wx', mode: 0o600 }),
    );
  } catch (error) {
    await rm(file, { force: true });
    throw error;
  }
}

/** The snapshot decompressed, cut off where no snapshot within `limits` could reach. */
function unpacked(file: string, limits: SnapshotLimits): (Readable | Transform)[] {
  const max = limits.maxBytes + limits.maxEntries * TAR_OVERHEAD_PER_ENTRY + 2 * 10240;
  return [
    createReadStream(file),
    createGunzip(),
    capped(max, () => `the workspace snapshot unpacks to more than ${max} bytes of tar`),
  ];
}

/** Passes at most `max` bytes through; fails with `message()` past them. */
function capped(max: number, message: () => string): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen > max) done(new SnapshotError(message(), 'refused'));
      else done(null, chunk);
    },
  });
}

/** A sink calling `onLine` with each line written to it (ASCII); a throw stops the stream. */
function lines(onLine: (line: string) => void): Writable {
  let rest = '';
  const each = (text: string) => {
    const parts = text.split('\n');
    rest = parts.pop() ?? '';
    if (rest.length > MAX_LISTING_LINE) {
      throw new SnapshotError(
        `tar listed a line longer than ${MAX_LISTING_LINE} characters`,
        'refused',
      );
    }
    for (const line of parts) onLine(line);
  };
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      try {
        each(rest + chunk.toString('latin1'));
        done();
      } catch (error) {
        done(error as Error);
      }
    },
    final(done) {
      try {
        if (rest !== '') onLine(rest);
        done();
      } catch (error) {
        done(error as Error);
      }
    },
  });
}

interface TarRun extends SnapshotOptions {
  /** What is being done, for messages. */
  what: string;
  args: string[];
  /** After `--`: never read as options. */
  operands?: string[];
  /** Stages feeding tar's standard input. */
  input?: (Readable | Transform)[];
  /** Stages tar's standard output goes through. */
  output?: (Transform | Writable)[];
}

/**
 * Runs tar with an argument list (never a shell). The first failure wins: a
 * stage's (a refused entry, a cap), the stop's, then tar's own exit status.
 */
function runTar(run: TarRun): Promise<void> {
  const { signal, timeoutMs, what } = run;
  if (signal?.aborted) return Promise.reject(new SnapshotError(`${what} was aborted`, 'aborted'));
  return new Promise((resolve, reject) => {
    const child = spawn('tar', [...run.args, '--', ...(run.operands ?? [])], {
      env: TAR_ENV,
      stdio: [run.input ? 'pipe' : 'ignore', run.output ? 'pipe' : 'ignore', 'pipe'],
    });
    let failed: Error | undefined;
    const fail = (error: Error) => {
      failed ??=
        error instanceof SnapshotError
          ? error
          : new SnapshotError(`${what} failed: ${error.message}`);
      child.kill('SIGKILL');
    };
    const stages: Promise<void>[] = [];
    if (run.input && child.stdin) {
      stages.push(
        pipeline([...run.input, child.stdin]).catch((error: NodeJS.ErrnoException) => {
          // tar stops reading at the archive's end marker; what follows is never read.
          if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_PREMATURE_CLOSE') fail(error);
        }),
      );
    }
    if (run.output && child.stdout) {
      stages.push(pipeline([child.stdout, ...run.output]).catch(fail));
    }
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      if (stderr.length < 64 * 1024) stderr += chunk.toString('utf8');
    });
    const onAbort = () => fail(new SnapshotError(`${what} was aborted`, 'aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => fail(new SnapshotError(`${what} timed out after ${timeoutMs} ms`, 'timeout')),
            timeoutMs,
          );
    let settled = false;
    const settle = (code: number | null) => {
      if (settled) return;
      settled = true;
      void Promise.allSettled(stages).then(() => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        if (failed) return reject(failed);
        if (code === 0) return resolve();
        const detail = stderr.trim().split('\n').slice(-5).join(' / ');
        reject(new SnapshotError(`${what} failed: tar exited with ${code}: ${detail}`));
      });
    };
    child.on('error', (error) => {
      failed ??= new SnapshotError(`${what} failed: could not run tar: ${error.message}`);
      settle(null);
    });
    child.on('close', settle);
  });
}
