import { existsSync, readFileSync } from 'node:fs';

/**
 * True once `pid` is no longer a live process. A killed process whose parent is
 * gone can linger as a zombie when PID 1 does not reap orphans (common in
 * containers); it is dead, so a zombie counts as gone.
 */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z';
  } catch {
    // No /proc entry: gone, unless this system has no /proc at all.
    return existsSync('/proc/self/stat');
  }
}
