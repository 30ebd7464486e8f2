import { execFile } from 'node:child_process';
import { lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SnapshotError } from './snapshot-errors';
import { SYSTEM_PATH } from './workspace-snapshot';

const exec = promisify(execFile);
const COMMIT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/**
 * The commit at HEAD of the repository in a restored workspace, or null when it
 * holds none (no `.git`, or no commit yet). The snapshot came from another
 * runner, so its `.git` is untrusted, as `guardWorkspace` treats an agent's:
 * it must be a plain directory that points at no other repository, and its
 * config (which can name commands, a promisor remote to fetch from ...) is
 * replaced before git reads it. The executor's git resets it again later.
 */
export async function snapshotHead(dir: string): Promise<string | null> {
  const gitDir = join(dir, '.git');
  const info = await lstat(gitDir).catch(() => undefined);
  if (!info) return null;
  for (const path of [gitDir, join(gitDir, 'objects')]) {
    if (!(await lstat(path).catch(() => undefined))?.isDirectory()) {
      throw new SnapshotError(
        `the snapshot's ${path.slice(dir.length + 1)} is not a directory`,
        'refused',
      );
    }
  }
  for (const name of ['commondir', 'objects/info/alternates', 'objects/info/http-alternates']) {
    if (await lstat(join(gitDir, name)).catch(() => undefined)) {
      throw new SnapshotError(`the snapshot's .git/${name} is not allowed`, 'refused');
    }
  }
  const config = join(gitDir, 'config');
  await rm(config, { recursive: true, force: true });
  // wx: never written through a symlink.
  await writeFile(config, '[core]\n\trepositoryformatversion = 0\n\tbare = false\n', {
    flag: 'wx',
    mode: 0o644,
  });
  const home = await mkdtemp(join(tmpdir(), 'drover-git-home-'));
  try {
    const { stdout } = await exec(
      'git',
      [
        '-c',
        'core.hooksPath=/dev/null',
        '-c',
        'protocol.allow=never',
        'rev-parse',
        '--verify',
        '-q',
        'HEAD^{commit}',
      ],
      {
        cwd: dir,
        timeout: 60_000,
        env: {
          PATH: SYSTEM_PATH,
          HOME: home,
          LC_ALL: 'C',
          GIT_DIR: gitDir,
          GIT_WORK_TREE: dir,
          GIT_CONFIG_NOSYSTEM: '1',
          GIT_CONFIG_GLOBAL: '/dev/null',
          GIT_NO_REPLACE_OBJECTS: '1',
          GIT_TERMINAL_PROMPT: '0',
        },
      },
    );
    const commit = stdout.trim();
    if (!COMMIT_ID.test(commit)) throw new SnapshotError(`git rev-parse HEAD printed "${commit}"`);
    return commit;
  } catch (error) {
    // rev-parse --verify -q exits 1, silently, when HEAD names no commit.
    if ((error as { code?: unknown }).code === 1) return null;
    if (error instanceof SnapshotError) throw error;
    throw new SnapshotError(`reading the snapshot's HEAD failed: ${(error as Error).message}`);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
