import { execFile } from 'node:child_process';
import {
  chmod,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rm,
  statfs,
  truncate,
  writeFile,
} from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { Logger } from '@nestjs/common';
import { failure, type AgentOutcome } from './command-agent';

const execTool = promisify(execFile);
const MB = 1024 * 1024;
/** Each mount, mkfs or unmount; they take milliseconds when the host is well. */
const TOOL_TIMEOUT_MS = 30_000;
/** Where mkfs.ext4, mount and umount are, whatever PATH the runner was given. */
const SYSTEM_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';

const IMAGE_SUFFIX = '.disk.img';
/** No journal and no blocks reserved for root: the filesystem lives as long as one run. */
const MKFS_OPTIONS = ['-q', '-F', '-m', '0', '-O', '^has_journal', '-E', 'nodiscard'];

function run(tool: string, args: string[]): Promise<unknown> {
  return execTool(tool, args, { timeout: TOOL_TIMEOUT_MS, env: { PATH: SYSTEM_PATH } });
}

/**
 * Free space below which a run's filesystem counts as full: ext4 refuses a
 * write with a few hundred KiB still free, so "full" is 1% of it, at least
 * 1 MiB and at most 16 MiB.
 */
function fullBelow(sizeMb: number): number {
  return Math.min(16 * MB, Math.max(MB, (sizeMb * MB) / 100));
}

/**
 * A run directory on a filesystem of its own, `sizeMb` large: whatever the run
 * (its sandbox, its git, its artifact staging) writes there stops at ENOSPC,
 * and the host's disk never fills past it.
 */
export interface RunVolume {
  readonly sizeMb: number;
  /** True when the filesystem is full: some write was (or is about to be) refused. */
  full(): Promise<boolean>;
  /** Unmounts and removes the filesystem; with `keep`, its image stays beside the run dir. */
  release(keep: boolean): Promise<void>;
}

/** Where runs' directories are bounded, and how large they are by default. */
export interface DiskQuota {
  /** The size of a run's filesystem when its task does not ask (`disk_mb`). */
  readonly defaultMb: number;
  /** Mounts a filesystem of `sizeMb` (else the default) at the empty directory `dir`. */
  mount(dir: string, sizeMb?: number): Promise<RunVolume>;
}

/**
 * Bounds each run's directory with an ext4 filesystem in a sparse image on a
 * loop device, mounted over the directory (nosuid, nodev) and removed when the
 * run ends. The images are in `images`, a directory of this runner's own, by
 * which `reap` tells its filesystems from those of other runners sharing a
 * workdir. Needs root and loop devices: `probe` at startup says whether it works.
 */
export class LoopDiskQuota implements DiskQuota {
  constructor(
    readonly defaultMb: number,
    private readonly images: string,
  ) {}

  async mount(dir: string, sizeMb = this.defaultMb): Promise<RunVolume> {
    const image = join(this.images, `${basename(dir)}${IMAGE_SUFFIX}`);
    try {
      await mkdir(this.images, { recursive: true, mode: 0o700 });
      // Sparse: the host's disk is used only as the run writes.
      await writeFile(image, '', { flag: 'wx', mode: 0o600 });
      await truncate(image, sizeMb * MB);
      await run('mkfs.ext4', [...MKFS_OPTIONS, image]);
      await run('mount', ['-t', 'ext4', '-o', 'loop,nosuid,nodev', image, dir]);
    } catch (error) {
      await rm(image, { force: true });
      throw new Error(`could not mount a ${sizeMb} MiB filesystem at ${dir}: ${messageOf(error)}`);
    }
    // The run directory stays private to the runner, as it was before the mount.
    await chmod(dir, 0o700);
    return new LoopVolume(dir, image, sizeMb);
  }

  /**
   * Mounts and removes a small filesystem under `workdir`: throws, saying why,
   * when this host cannot (not root, no loop devices, no mkfs.ext4).
   */
  async probe(workdir: string): Promise<void> {
    const dir = await mkdtemp(join(workdir, 'probe-'));
    try {
      const volume = await this.mount(dir, 16);
      await volume.release(false);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Unmounts the filesystems of this runner's images mounted under `workdir`,
   * and removes the images: what an earlier runner of the same id, killed
   * mid-run, left. Call it at startup, as containers are reaped. Returns how
   * many it unmounted.
   */
  async reap(workdir: string): Promise<number> {
    const prefix = `${this.images}/`;
    let reaped = 0;
    for (const { point, image } of await mountsUnder(workdir)) {
      if (!image?.startsWith(prefix)) continue;
      await unmount(point);
      reaped++;
    }
    const entries = await readdir(this.images).catch(() => [] as string[]);
    for (const name of entries.filter((n) => n.endsWith(IMAGE_SUFFIX))) {
      await rm(join(this.images, name), { force: true });
    }
    return reaped;
  }

  /**
   * Unmounts every loop-mounted filesystem under `dir`, whoever mounted it: for
   * test harnesses removing a directory their runners, killed, left mounted.
   */
  static async unmountAll(dir: string): Promise<void> {
    for (const { point, image } of await mountsUnder(dir)) {
      if (image) await unmount(point);
    }
  }
}

class LoopVolume implements RunVolume {
  private readonly logger = new Logger(LoopDiskQuota.name);

  constructor(
    private readonly dir: string,
    private readonly image: string,
    readonly sizeMb: number,
  ) {}

  async full(): Promise<boolean> {
    const fs = await statfs(this.dir);
    return fs.bavail * fs.bsize < fullBelow(this.sizeMb) || (fs.files > 0 && fs.ffree === 0);
  }

  async release(keep: boolean): Promise<void> {
    await unmount(this.dir);
    if (keep) {
      this.logger.log(`kept the workspace's filesystem image ${this.image}`);
      return;
    }
    await rm(this.image, { force: true });
  }
}

/**
 * Unmounts `dir`; should something still hold it open, detaches it lazily (the
 * kernel frees it, and its loop device, once the last user lets go).
 */
async function unmount(dir: string): Promise<void> {
  try {
    await run('umount', [dir]);
  } catch {
    await run('umount', ['-l', dir]);
  }
}

/**
 * Mount points strictly under `dir`, deepest first, from this process's mount
 * table, each with its loop device's image file when it is on one.
 */
async function mountsUnder(dir: string): Promise<{ point: string; image?: string }[]> {
  const table = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const prefix = `${dir.replace(/\/+$/, '')}/`;
  const mounts = table
    .split('\n')
    .map((line) => {
      const fields = line.split(' ');
      // After the optional fields and "-": the filesystem type and the source.
      const source = fields[fields.indexOf('-') + 2] ?? '';
      return { point: fromMountTable(fields[4] ?? ''), source };
    })
    .filter(({ point }) => point.startsWith(prefix))
    .sort((a, b) => b.point.length - a.point.length);
  return Promise.all(
    mounts.map(async ({ point, source }) => ({ point, image: await loopImage(source) })),
  );
}

/** The image file behind `/dev/loopN`, as the kernel tells it; undefined for anything else. */
async function loopImage(source: string): Promise<string | undefined> {
  const device = /^\/dev\/(loop\d+)$/.exec(source)?.[1];
  if (!device) return undefined;
  const file = await readFile(`/sys/block/${device}/loop/backing_file`, 'utf8').catch(() => '');
  return file.trim().replace(/ \(deleted\)$/, '') || undefined;
}

/** A path from the mount table, where spaces and the like are octal escapes. */
function fromMountTable(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => chr(octal));
}

function chr(octal: string): string {
  return String.fromCharCode(parseInt(octal, 8));
}

function messageOf(error: unknown): string {
  const { stderr, message } = error as { stderr?: string; message?: string };
  return (stderr?.trim() || message || String(error)).split('\n')[0];
}

/**
 * The run's own filesystem of `diskMb` (else the default) over `runDir`, when
 * this runner bounds workspaces (`disk`); `note` tells the run's log which.
 */
export async function mountRunDir(
  disk: DiskQuota | undefined,
  runDir: string,
  diskMb: number | undefined,
  note: (text: string) => void,
): Promise<RunVolume | undefined> {
  if (!disk) {
    if (diskMb) note('sandbox: disk_mb is not enforced on this runner');
    return undefined;
  }
  const volume = await disk.mount(runDir, diskMb);
  note(`workspace: ${volume.sizeMb} MiB of disk`);
  return volume;
}

/** The message of a run that filled its filesystem. */
export function quotaMessage(sizeMb: number): string {
  return `the workspace is over its disk quota of ${sizeMb} MiB (disk_mb)`;
}

/**
 * A run that failed with its filesystem full ends POLICY_VIOLATION (never
 * retried: the same work would fill it again) with the quota in its message,
 * whatever failed because of it: a command, the acceptance, git, the runner's
 * own staging (INFRA otherwise, and retried). A run that succeeded anyway, a
 * cancelled or a released one, stays what it is.
 */
export async function withinQuota(outcome: AgentOutcome, volume: RunVolume): Promise<AgentOutcome> {
  const kept: (string | null)[] = ['CANCELLED', 'RUNNER_LOST', null];
  if (outcome.outcome !== 'FAILED' || kept.includes(outcome.errorClass)) return outcome;
  if (!(await volume.full())) return outcome;
  return {
    ...failure(outcome.exitCode, 'POLICY_VIOLATION', quotaMessage(volume.sizeMb)),
    result: outcome.result,
  };
}
