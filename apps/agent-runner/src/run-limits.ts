import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { RunnerConfig } from '@drover/config';
import type { ResourceCeilings } from '@drover/contracts';
import { LoopDiskQuota, type DiskQuota } from '@drover/execution';

const logger = new Logger('RunLimits');

/** The most a task's `resources` may ask for on this runner. */
export function ceilingsOf(config: RunnerConfig): ResourceCeilings {
  return {
    memory_mb: config.RUNNER_MAX_MEMORY_MB,
    cpus: config.RUNNER_MAX_CPUS,
    pids: config.RUNNER_MAX_PIDS,
    tmpfs_mb: config.RUNNER_MAX_TMPFS_MB,
    disk_mb: config.RUNNER_MAX_DISK_MB,
  };
}

/**
 * How this runner bounds its runs' workspaces: a loop-mounted filesystem per
 * run (after unmounting what an earlier runner of this workdir left), or none
 * when RUNNER_DISK_QUOTA is `off` (the default with the process driver). A
 * runner that should bound them and cannot refuses to start: an unbounded
 * workspace lets one task fill the host's disk.
 */
export async function diskQuotaOf(
  config: RunnerConfig,
  workdir: string,
): Promise<DiskQuota | undefined> {
  const mode = config.RUNNER_DISK_QUOTA ?? (config.RUNNER_SANDBOX === 'process' ? 'off' : 'loop');
  if (mode === 'off') {
    logger.warn(
      'disk quota off (RUNNER_DISK_QUOTA): workspaces are not bounded; a run can fill this disk',
    );
    return undefined;
  }
  await mkdir(workdir, { recursive: true, mode: 0o700 });
  // Its own images' directory: runners sharing a workdir never reap each other's runs.
  const quota = new LoopDiskQuota(config.RUNNER_DISK_MB, join(workdir, 'disks', config.RUNNER_ID));
  const reaped = await quota.reap(workdir);
  if (reaped) logger.warn(`unmounted ${reaped} workspaces an earlier runner left behind`);
  try {
    await quota.probe(workdir);
  } catch (error) {
    throw new Error(
      `RUNNER_DISK_QUOTA=loop: ${(error as Error).message}. The runner bounds each workspace ` +
        'with a loop-mounted filesystem, which needs root and loop devices (/dev/loop-control); ' +
        'RUNNER_DISK_QUOTA=off runs with unbounded workspaces',
    );
  }
  return quota;
}
