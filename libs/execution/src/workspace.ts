import { spawn } from 'node:child_process';
import { lstat, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refNameProblem } from '@drover/contracts';
import { inspectRepo, type HostLookup, type SourcePolicy, type Target } from './repo-source';
import { removeNestedGitDirs } from './work-tree';
import { GitError, InvalidSpecError, WorkTreeError } from './workspace-errors';

export interface WorkspaceChange {
  path: string;
  status: 'added' | 'modified' | 'deleted' | 'renamed';
  /** The old path of a renamed file. */
  from?: string;
}

/** Identity of the commits the runner makes in a workspace. */
const COMMITTER = { name: 'Drover', email: 'drover@localhost' };
/** The same, for a git dir whose config does not say it (one restored from a snapshot). */
const IDENTITY = {
  GIT_AUTHOR_NAME: COMMITTER.name,
  GIT_AUTHOR_EMAIL: COMMITTER.email,
  GIT_COMMITTER_NAME: COMMITTER.name,
  GIT_COMMITTER_EMAIL: COMMITTER.email,
};
/** Cap on what one git command may print (the diff's patch is the big one). */
const MAX_OUTPUT = 64 * 1024 * 1024;
const COMMIT_ID = /^[0-9a-f]{7,64}$/i;
const SSH_BASE = 'ssh -oBatchMode=yes -oStrictHostKeyChecking=accept-new';

/**
 * Checks a ref a task names: the branch, tag or commit to clone, or the branch
 * to push. git's own check-ref-format has the last word; the common mistakes
 * get their own message first.
 */
export async function checkRef(ref: string, field: 'clone_branch' | 'push_branch'): Promise<void> {
  const refuse = (message: string) => new InvalidSpecError(field, message);
  if (field === 'clone_branch' && COMMIT_ID.test(ref)) return;
  const problem = refNameProblem(ref);
  if (problem) throw refuse(problem);
  if (field === 'push_branch') {
    if (ref === 'HEAD') throw refuse('must be a branch name, not HEAD');
    if (ref.startsWith('refs/') && !ref.startsWith('refs/heads/')) {
      throw refuse('must be a branch (refs/heads/...), not another kind of ref');
    }
  }
  const result = await withHome((home) =>
    runGit(['check-ref-format', '--allow-onelevel', '--normalize', ref], {
      cwd: home,
      env: gitEnv(home, SSH_BASE),
    }),
  );
  if (result.code !== 0) throw refuse(`"${ref}" is not a valid ref name`);
  const normal = result.stdout.trim();
  if (normal !== ref) throw refuse(`"${ref}" is not in normal form; use "${normal}"`);
}

/**
 * A run's repository: the runner's git dir, kept outside the workspace (never
 * mounted into a sandbox), with the workspace as its work tree. Every git
 * command here uses it; the `.git` a sandbox sees in the workspace is a copy
 * (`shareGitDir`) that the runner never reads, so nothing an agent writes there
 * (links, config, alternates) reaches the runner's git.
 */
export interface Checkout {
  /** The work tree: the run's workspace. */
  dir: string;
  /** The runner's git dir, outside `dir`. */
  gitDir: string;
}

export interface PrepareOptions extends Checkout {
  repo: string;
  /** Branch, tag, or full or abbreviated commit id. */
  ref: string;
  policy: SourcePolicy;
  signal?: AbortSignal;
  /** For the whole preparation, DNS included. */
  timeoutMs?: number;
  lookup?: HostLookup;
}

/**
 * Fetches `ref` of `repo` into the new git dir `gitDir` and checks it out
 * (detached) into the empty directory `dir`. Only that ref's commit is fetched where the server allows it; an
 * abbreviated commit id needs the branches and tags, so those are fetched then.
 */
export async function prepareWorkspace(opts: PrepareOptions): Promise<{ commit: string }> {
  const stop = stopWhen(opts.signal, opts.timeoutMs, 'preparing the workspace');
  try {
    const target = await inspectRepo(opts.repo, opts.policy, opts.lookup, stop.signal);
    await checkRef(opts.ref, 'clone_branch');
    if ((await readdir(opts.dir)).length > 0) throw new GitError('the workspace is not empty');
    if (await lstat(opts.gitDir).catch(() => undefined)) {
      throw new GitError("the run's git dir exists already");
    }
    return await withHome(async (home) => {
      const git = gitIn(opts, home, {
        target,
        allowLocal: opts.policy.allowLocal,
        signal: stop.signal,
      });
      // Bare here only for init: resetConfig makes it a repository with a work tree.
      await git.run(['init', '-q', '--template=', '--bare', opts.gitDir], { plain: true });
      await resetConfig(opts.gitDir);
      const commit = await fetchRef(git, target, opts.ref, opts.repo);
      await git.run(['checkout', '-q', '--detach', commit]);
      return { commit };
    });
  } finally {
    stop.dispose();
  }
}

async function fetchRef(git: Git, target: Target, ref: string, repo: string): Promise<string> {
  const notFound = () => new InvalidSpecError('clone_branch', `"${ref}" not found in ${repo}`);
  const fetch = ['fetch', '-q', '--no-tags', '--no-recurse-submodules'];
  const direct = await git.attempt([...fetch, '--depth=1', '--', target.url, ref]);
  if (direct.code === 0) {
    const commit = await git.attempt(['rev-parse', '--verify', '-q', 'FETCH_HEAD^{commit}']);
    if (commit.code !== 0) {
      throw new InvalidSpecError('clone_branch', `"${ref}" in ${repo} is not a commit`);
    }
    return commit.stdout.trim();
  }
  if (!COMMIT_ID.test(ref)) {
    if (/couldn't find remote ref/i.test(direct.stderr)) throw notFound();
    throw failure(direct);
  }
  // A commit id the server would not serve alone (or an abbreviated one): look among all.
  await git.run([
    ...fetch,
    '--',
    target.url,
    '+refs/heads/*:refs/drover/heads/*',
    '+refs/tags/*:refs/drover/tags/*',
  ]);
  const commit = await git.attempt(['rev-parse', '--verify', '-q', `${ref}^{commit}`]);
  if (commit.code !== 0) throw notFound();
  return commit.stdout.trim();
}

/**
 * Every change in the work tree against commit `base`, untracked files included
 * (ignored ones not), as a list and as a binary patch that applies to `base`.
 * Read through a temporary index: the git dir's own index and HEAD stay as they
 * are. `nested`: the nested `.git` entries removed first (removeNestedGitDirs).
 */
export async function diffWorkspace(
  checkout: Checkout,
  base: string,
): Promise<{ files: WorkspaceChange[]; patch: string; nested: string[] }> {
  if (!COMMIT_ID.test(base)) throw new GitError(`base "${base}" is not a commit id`);
  const nested = await removeNestedGitDirs(checkout.dir);
  return withHome(async (home) => {
    const git = gitIn(checkout, home, { env: { GIT_INDEX_FILE: join(home, 'index') } });
    await stageWorkTree(git, base);
    const diff = ['diff', '--cached', '-M', '--no-ext-diff', '--no-textconv', '--no-color'];
    const names = await git.run([...diff, '--name-status', '-z', base, '--']);
    const patch = await git.run([...diff, '--binary', base, '--']).catch((error: unknown) => {
      // The run's changes are too large to keep: its doing, not the runner's.
      if (error instanceof GitError && error.reason === 'overflow') {
        throw new WorkTreeError(`the workspace's diff is over ${MAX_OUTPUT / 2 ** 20} MiB`);
      }
      throw error;
    });
    return { files: parseNameStatus(names.stdout), patch: patch.stdout, nested };
  });
}

/** What makes git fail on the runner's side whatever the work tree holds. */
const HOST_TROUBLE =
  /No space left on device|Disk quota exceeded|Input\/output error|Cannot allocate memory|Read-only file system|Too many open files/i;

/**
 * `base` and then the whole work tree into the (temporary) index. git failing
 * to record the work tree is the run's doing (a path git refuses, a file it
 * cannot read), unless the host is in trouble.
 */
async function stageWorkTree(git: Git, base: string): Promise<void> {
  await git.run(['read-tree', base]);
  const added = await git.attempt(['add', '-A']);
  if (added.code === 0) return;
  if (HOST_TROUBLE.test(added.stderr)) throw failure(added);
  throw new WorkTreeError(`git cannot record the workspace: ${detailOf(added)}`);
}

function parseNameStatus(output: string): WorkspaceChange[] {
  const fields = output.split('\0');
  const files: WorkspaceChange[] = [];
  for (let i = 0; i + 1 < fields.length;) {
    const code = fields[i++].charAt(0);
    const path = fields[i++];
    if (code === 'R' || code === 'C') {
      const to = fields[i++];
      files.push(
        code === 'R' ? { path: to, status: 'renamed', from: path } : { path: to, status: 'added' },
      );
    } else if (code === 'A') {
      files.push({ path, status: 'added' });
    } else if (code === 'D') {
      files.push({ path, status: 'deleted' });
    } else {
      files.push({ path, status: 'modified' });
    }
  }
  return files;
}

export interface PushOptions extends Checkout {
  /** The commit the workspace started from: the pushed commit's parent. */
  base: string;
  repo: string;
  branch: string;
  message: string;
  policy: SourcePolicy;
  signal?: AbortSignal;
  timeoutMs?: number;
  lookup?: HostLookup;
}

/**
 * Commits the work tree as one commit on `base` (or pushes `base` itself when
 * nothing changed) and pushes it to `branch` of `repo`. Commits an agent made
 * in the sandbox's `.git` are not read: their changes are in the work tree, and
 * so in this one commit. No force: a branch that moved elsewhere is not
 * overwritten. The git dir's HEAD then names the pushed commit.
 */
export async function commitAndPush(opts: PushOptions): Promise<{ commit: string }> {
  const branch = opts.branch.startsWith('refs/heads/')
    ? opts.branch.slice('refs/heads/'.length)
    : opts.branch;
  await checkRef(opts.branch, 'push_branch');
  await checkRef(branch, 'push_branch');
  const stop = stopWhen(opts.signal, opts.timeoutMs, 'pushing the workspace');
  try {
    const target = await inspectRepo(opts.repo, opts.policy, opts.lookup, stop.signal);
    if (!COMMIT_ID.test(opts.base)) throw new GitError(`base "${opts.base}" is not a commit id`);
    await removeNestedGitDirs(opts.dir);
    return await withHome(async (home) => {
      const git = gitIn(opts, home, {
        target,
        allowLocal: opts.policy.allowLocal,
        signal: stop.signal,
        env: { GIT_INDEX_FILE: join(home, 'index'), ...IDENTITY },
      });
      await stageWorkTree(git, opts.base);
      const tree = (await git.run(['write-tree'])).stdout.trim();
      const baseTree = (await git.run(['rev-parse', `${opts.base}^{tree}`])).stdout.trim();
      const commit =
        tree === baseTree
          ? opts.base
          : (
              await git.run(['commit-tree', tree, '-p', opts.base, '-m', opts.message])
            ).stdout.trim();
      await git.run([
        'push',
        '-q',
        '--no-verify',
        '--no-recurse-submodules',
        '--',
        target.url,
        `${commit}:refs/heads/${branch}`,
      ]);
      await git.run(['update-ref', '--no-deref', 'HEAD', commit]);
      return { commit };
    });
  } finally {
    stop.dispose();
  }
}

/** Settings git init may probe for the filesystem; values are booleans only. */
const SAFE_CONFIG =
  /^core\.(filemode|logallrefupdates|ignorecase|precomposeunicode|symlinks)\n(true|false)$/;

/**
 * Rewrites the git dir's config to the settings git init probed and the
 * committer identity; nothing that could name a command or another repository.
 */
async function resetConfig(gitDir: string): Promise<void> {
  const path = join(gitDir, 'config');
  let probed: string[] = [];
  if ((await lstat(path).catch(() => undefined))?.isFile()) {
    // --file reads just this file (no includes) without setting up a repository.
    const listed = await withHome((home) =>
      runGit(['config', '--file', path, '--null', '--list'], {
        cwd: home,
        env: gitEnv(home, SSH_BASE),
      }),
    );
    probed = listed.stdout.split('\0').filter((entry) => SAFE_CONFIG.test(entry));
  }
  const core = probed.map((entry) => entry.replace(/^core\.(\w+)\n(\w+)$/, '\t$1 = $2'));
  const text =
    ['[core]', '\trepositoryformatversion = 0', '\tbare = false', ...core].join('\n') +
    `\n[user]\n\tname = ${COMMITTER.name}\n\temail = ${COMMITTER.email}\n`;
  await rm(path, { recursive: true, force: true });
  // wx: never written through a symlink.
  await writeFile(path, text, { flag: 'wx', mode: 0o644 });
}

interface GitResult {
  code: number | null;
  stdout: string;
  stderr: string;
  args: string[];
}

interface Git {
  /** Runs git; rejects with GitError unless it exits 0. `plain`: no repository (for init). */
  run(args: string[], options?: { plain?: boolean }): Promise<GitResult>;
  /** Runs git and returns whatever came of it. */
  attempt(args: string[]): Promise<GitResult>;
}

interface GitOptions {
  /** The repository fetched from or pushed to, if any: its protocol and pinned addresses. */
  target?: Target;
  allowLocal?: boolean;
  signal?: AbortSignal;
  env?: Record<string, string>;
}

/** git on a checkout, hardened for untrusted repositories, URLs and work trees. */
function gitIn(checkout: Checkout, home: string, options: GitOptions = {}): Git {
  const { target, signal } = options;
  const config = [
    'protocol.allow=never',
    'protocol.https.allow=always',
    'protocol.ssh.allow=always',
    ...(options.allowLocal ? ['protocol.file.allow=always'] : []),
    'core.hooksPath=/dev/null',
    'core.fsmonitor=false',
    'credential.helper=',
    'http.followRedirects=false',
    'submodule.recurse=false',
    'commit.gpgSign=false',
    'gc.auto=0',
    'maintenance.auto=false',
    'advice.detachedHead=false',
  ];
  let ssh = SSH_BASE;
  const pinned = target?.pinned?.[0];
  if (target?.host && target.pinned && pinned) {
    if (target.kind === 'https') {
      const addresses = target.pinned.map((a) => (isIPv6(a) ? `[${a}]` : a)).join(',');
      config.push(`http.curloptResolve=${target.host}:${target.port ?? 443}:${addresses}`);
    } else if (target.kind === 'ssh') {
      // Host and address passed the strict checks above: safe in this shell command.
      ssh = `${SSH_BASE} -oHostName=${pinned} -oHostKeyAlias=${target.host}`;
    }
  }
  const base = gitEnv(home, ssh);
  const invoke = (args: string[], plain = false) =>
    runGit([...config.flatMap((entry) => ['-c', entry]), ...args], {
      cwd: plain ? home : checkout.dir,
      env: plain
        ? base
        : { ...base, GIT_DIR: checkout.gitDir, GIT_WORK_TREE: checkout.dir, ...options.env },
      signal,
    });
  return {
    async run(args, options) {
      const result = await invoke(args, options?.plain);
      if (result.code !== 0) throw failure(result);
      return result;
    },
    attempt: (args) => invoke(args),
  };
}

function failure(result: GitResult): GitError {
  const command = result.args.find((arg, i) => !arg.startsWith('-') && result.args[i - 1] !== '-c');
  return new GitError(`git ${command ?? ''} failed (exit ${result.code}): ${detailOf(result)}`);
}

/** The last lines git printed on stderr. */
function detailOf(result: GitResult): string {
  return result.stderr.trim().split('\n').slice(-5).join(' / ');
}

/** Only what git needs: no user or system config, no prompts, no credentials. */
function gitEnv(home: string, sshCommand: string): Record<string, string> {
  const { PATH, SSH_AUTH_SOCK } = process.env;
  return {
    PATH: PATH ?? '/usr/bin:/bin',
    ...(SSH_AUTH_SOCK ? { SSH_AUTH_SOCK } : {}),
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '/bin/false',
    SSH_ASKPASS: '/bin/false',
    GIT_SSH_COMMAND: sshCommand,
  };
}

/**
 * Runs git with an argument list (never a shell) in its own process group, so
 * that an abort kills its helpers too (git-remote-https, ssh).
 */
function runGit(
  args: string[],
  options: { cwd: string; env: Record<string, string>; signal?: AbortSignal },
): Promise<GitResult> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((done, fail) => {
    const child = spawn('git', args, {
      cwd: options.cwd,
      env: options.env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let size = 0;
    let overflow = false;
    const kill = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const collect = (into: Buffer[]) => (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_OUTPUT) {
        overflow = true;
        kill();
      } else into.push(chunk);
    };
    child.stdout.on('data', collect(stdout));
    child.stderr.on('data', collect(stderr));
    signal?.addEventListener('abort', kill, { once: true });
    child.on('error', (error) => {
      signal?.removeEventListener('abort', kill);
      fail(new GitError(`could not run git: ${error.message}`));
    });
    child.on('close', (code) => {
      signal?.removeEventListener('abort', kill);
      if (signal?.aborted) return fail(signal.reason as Error);
      if (overflow) {
        return fail(new GitError(`git printed more than ${MAX_OUTPUT} bytes`, 'overflow'));
      }
      done({
        code,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        args,
      });
    });
  });
}

/** One operation's stop: the caller's signal or the timeout, whichever comes first. */
function stopWhen(signal: AbortSignal | undefined, timeoutMs: number | undefined, what: string) {
  const controller = new AbortController();
  const onAbort = () => controller.abort(new GitError(`${what} was aborted`, 'aborted'));
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort, { once: true });
  const timer =
    timeoutMs === undefined
      ? undefined
      : setTimeout(
          () =>
            controller.abort(new GitError(`${what} timed out after ${timeoutMs} ms`, 'timeout')),
          timeoutMs,
        );
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    },
  };
}

/** An empty HOME for git, so that no user configuration applies; removed afterwards. */
async function withHome<T>(work: (home: string) => Promise<T>): Promise<T> {
  const home = await mkdtemp(join(tmpdir(), 'drover-git-home-'));
  try {
    return await work(home);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
