import type { Dirent } from 'node:fs';
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { WorkTreeError } from './workspace-errors';

/**
 * Removes every nested `.git` (a directory, a `gitdir:` file, a link) from the
 * work tree `dir`, and returns their paths. git would take the directory holding
 * one for another repository and read through it (a gitlink to wherever it
 * points); without it, the files there are diffed and pushed as plain files.
 * The walk never follows a link. The top-level `.git` is the sandbox's own copy,
 * which git skips and the runner never reads.
 */
export async function removeNestedGitDirs(dir: string): Promise<string[]> {
  if (!(await lstat(dir)).isDirectory())
    throw new WorkTreeError('the workspace is not a directory');
  const removed: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    for (const entry of await entriesOf(dir, rel)) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.name === '.git') {
        if (!rel) continue;
        await rm(join(dir, path), { recursive: true, force: true }).catch((error: unknown) => {
          throw new WorkTreeError(`${path} cannot be removed: ${codeOf(error)}`);
        });
        removed.push(path);
      } else if (entry.isDirectory()) {
        await walk(path);
      }
    }
  };
  await walk('');
  return removed.sort();
}

/** The entries of `rel` in `dir`, typed without following links. */
async function entriesOf(dir: string, rel: string): Promise<Dirent[]> {
  try {
    return await readdir(join(dir, rel), { withFileTypes: true });
  } catch (error) {
    throw new WorkTreeError(`${rel || '.'} in the workspace cannot be read: ${codeOf(error)}`);
  }
}

function codeOf(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}
