import { cp, lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { SnapshotError } from './snapshot-errors';

// The runner's repository of a run lives in its git dir, beside the workspace
// and never mounted into a sandbox: every git command the runner runs uses it
// (GIT_DIR) with the workspace as the work tree. The sandbox gets a copy as the
// workspace's `.git`, for the agent's own git; the runner never reads that copy.

/** Files that make git read other repositories on the host. */
const POINTERS = ['commondir', 'objects/info/alternates', 'objects/info/http-alternates'];

/**
 * Gives the sandbox its own copy of the git dir `gitDir` as `<workspace>/.git`
 * (which must not exist), replacing whatever was there when `replace` is set.
 */
export async function shareGitDir(
  gitDir: string,
  workspace: string,
  replace = false,
): Promise<void> {
  const copy = join(workspace, '.git');
  // rm does not follow links: a `.git` the agent made a link goes, not its target.
  if (replace) await rm(copy, { recursive: true, force: true });
  await cp(gitDir, copy, {
    recursive: true,
    errorOnExist: true,
    force: false,
    verbatimSymlinks: true,
  });
}

/**
 * Refuses a git dir from a snapshot (another runner's, or a plain run's agent's)
 * unless it holds only directories and regular files, and nothing that points
 * git at another repository: the runner's git then reads and writes in it alone.
 */
export async function checkGitDir(gitDir: string, what = "the snapshot's .git"): Promise<void> {
  const refuse = (message: string) => new SnapshotError(`${what}${message}`, 'refused');
  if (!(await lstat(gitDir)).isDirectory()) throw refuse(' is not a directory');
  for (const entry of await readdir(gitDir, { withFileTypes: true, recursive: true })) {
    if (entry.isDirectory() || entry.isFile()) continue;
    const rel = join(entry.parentPath, entry.name).slice(gitDir.length);
    throw refuse(`${rel} is not a plain file or directory`);
  }
  for (const name of POINTERS) {
    if (await lstat(join(gitDir, name)).catch(() => undefined)) {
      throw refuse(`/${name} is not allowed`);
    }
  }
}
