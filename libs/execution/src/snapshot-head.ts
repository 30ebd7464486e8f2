import { execFile } from 'node:child_process';
import { lstat, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { checkGitDir } from './git-dir';
import { SnapshotError } from './snapshot-errors';
import { SYSTEM_PATH } from './workspace-snapshot';

const exec = promisify(execFile);
const COMMIT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/**
 * Takes the repository out of a restored workspace: the snapshot's `.git` (the
 * upstream runner's git dir, or what a plain run's agent left) is moved to the
 * run's git dir `gitDir`, outside the workspace, and returns the commit at its
 * HEAD, or null when there is none (no `.git`, or no commit yet). The snapshot
 * came from another runner, so the git dir is untrusted: it must hold only
 * directories and regular files and point at no other repository
 * (checkGitDir), and its config (which can name commands, a promisor remote to
 * fetch from ...) is replaced before git reads it.
 */
export async function snapshotHead(workspace: string, gitDir: string): Promise<string | null> {
  const from = join(workspace, '.git');
  const info = await lstat(from).catch(() => undefined);
  if (!info) return null;
  if (!info.isDirectory())
    throw new SnapshotError("the snapshot's .git is not a directory", 'refused');
  await rename(from, gitDir);
  await checkGitDir(gitDir);
  const config = join(gitDir, 'config');
  await rm(config, { recursive: true, force: true });
  // wx: never written through a symlink.
  await writeFile(
    config,
    '[core]\n\trepositoryformatversion = 0\n\tbare = false\n' +
      '[user]\n\tname = Drover\n\temail = drover@localhost\n',
    { flag: 'wx', mode: 0o644 },
  );
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
        cwd: home,
        timeout: 60_000,
        env: {
          PATH: SYSTEM_PATH,
          HOME: home,
          LC_ALL: 'C',
          GIT_DIR: gitDir,
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
    // What git said, not the command line execFile's message starts with.
    const said = (error as { stderr?: string }).stderr?.trim().split('\n').pop();
    throw new SnapshotError(
      `reading the snapshot's HEAD failed: ${said || (error as Error).message}`,
    );
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
