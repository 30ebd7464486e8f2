import { spawn } from 'node:child_process';
import { lstat, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { refNameProblem } from '@drover/contracts';
import { inspectRepo, type HostLookup, type SourcePolicy, type Target } from './repo-source';
import { GitError, InvalidSpecError } from './workspace-errors';

export interface WorkspaceChange {
  path: string;
  status: 'added' | 'modified' | 'deleted' | 'renamed';
  /** The old path of a renamed file. */
  from?: string;
}

/** Identity of the commits the runner makes in a workspace. */
const COMMITTER = { name: 'Drover', email: 'drover@localhost' };
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

export interface PrepareOptions {
  repo: string;
  /** Branch, tag, or full or abbreviated commit id. */
  ref: string;
  /** The run's workspace; created empty by the caller. */
  dir: string;
  policy: SourcePolicy;
  signal?: AbortSignal;
  /** For the whole preparation, DNS included. */
  timeoutMs?: number;
  lookup?: HostLookup;
}

/**
 * Fetches `ref` of `repo` into the empty directory `dir` and checks it out
 * (detached). Only that ref's commit is fetched where the server allows it; an
 * abbreviated commit id needs the branches and tags, so those are fetched then.
 */
export async function prepareWorkspace(opts: PrepareOptions): Promise<{ commit: string }> {
  const stop = stopWhen(opts.signal, opts.timeoutMs, 'preparing the workspace');
  try {
    const target = await inspectRepo(opts.repo, opts.policy, opts.lookup, stop.signal);
    await checkRef(opts.ref, 'clone_branch');
    if ((await readdir(opts.dir)).length > 0) {
      throw new GitError(`workspace ${opts.dir} is not empty`);
    }
    return await withHome(async (home) => {
      const git = gitIn(opts.dir, home, {
        target,
        allowLocal: opts.policy.allowLocal,
        signal: stop.signal,
      });
      await git.run(['init', '-q', '--template='], { plain: true });
      await resetConfig(opts.dir);
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
 * Read through a temporary index: the workspace's own index and HEAD stay as they are.
 */
export async function diffWorkspace(
  dir: string,
  base: string,
): Promise<{ files: WorkspaceChange[]; patch: string }> {
  if (!COMMIT_ID.test(base)) throw new GitError(`base "${base}" is not a commit id`);
  await guardWorkspace(dir);
  return withHome(async (home) => {
    const index = join(home, 'index');
    const git = gitIn(dir, home, { env: { GIT_INDEX_FILE: index } });
    await git.run(['read-tree', base]);
    await git.run(['add', '-A']);
    const diff = ['diff', '--cached', '-M', '--no-ext-diff', '--no-textconv', '--no-color'];
    const names = await git.run([...diff, '--name-status', '-z', base, '--']);
    const patch = await git.run([...diff, '--binary', base, '--']);
    return { files: parseNameStatus(names.stdout), patch: patch.stdout };
  });
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

export interface PushOptions {
  dir: string;
  repo: string;
  branch: string;
  message: string;
  policy: SourcePolicy;
  signal?: AbortSignal;
  timeoutMs?: number;
  lookup?: HostLookup;
}

/**
 * Commits every change in the workspace (if there is any: an agent may have
 * committed itself) and pushes HEAD to `branch` of `repo`. No force: a branch
 * that moved elsewhere is not overwritten.
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
    await guardWorkspace(opts.dir);
    return await withHome(async (home) => {
      const git = gitIn(opts.dir, home, {
        target,
        allowLocal: opts.policy.allowLocal,
        signal: stop.signal,
      });
      await git.run(['add', '-A']);
      const staged = await git.attempt(['diff', '--cached', '--quiet', '--no-ext-diff']);
      if (staged.code !== 0) {
        await git.run(['commit', '-q', '--no-verify', '--no-gpg-sign', '-m', opts.message]);
      }
      const commit = (await git.run(['rev-parse', '--verify', 'HEAD^{commit}'])).stdout.trim();
      await git.run([
        'push',
        '-q',
        '--no-verify',
        '--no-recurse-submodules',
        '--',
        target.url,
        `${commit}:refs/heads/${branch}`,
      ]);
      return { commit };
    });
  } finally {
    stop.dispose();
  }
}

/**
 * The agent could write anything into `.git` while the sandbox ran, and git
 * runs here on the runner: config can name commands (core.fsmonitor, filters,
 * diff drivers), alternates and commondir can point at other repositories on
 * this host. So `.git` must be a plain directory without those, and its config
 * is rewritten to the few settings a workspace needs.
 */
async function guardWorkspace(dir: string): Promise<void> {
  const gitDir = join(dir, '.git');
  for (const path of [gitDir, join(gitDir, 'objects')]) {
    const info = await lstat(path).catch(() => undefined);
    if (!info?.isDirectory()) throw new GitError(`workspace ${path} is not a directory`);
  }
  for (const name of ['commondir', 'objects/info/alternates', 'objects/info/http-alternates']) {
    if (await lstat(join(gitDir, name)).catch(() => undefined)) {
      throw new GitError(`workspace .git/${name} is not allowed (written by the agent?)`);
    }
  }
  await resetConfig(dir);
}

/** Settings git init may probe for the filesystem; values are booleans only. */
const SAFE_CONFIG =
  /^core\.(filemode|logallrefupdates|ignorecase|precomposeunicode|symlinks)\n(true|false)$/;

/**
 * Rewrites the workspace's config to the settings git init probed and the
 * committer identity; nothing that could name a command or another repository.
 */
async function resetConfig(dir: string): Promise<void> {
  const path = join(dir, '.git', 'config');
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
  /** Runs git; rejects with GitError unless it exits 0. `plain` skips GIT_DIR (for init). */
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

/** git in a workspace, hardened for untrusted repositories and URLs. */
function gitIn(dir: string, home: string, options: GitOptions = {}): Git {
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
      cwd: dir,
      env: plain
        ? base
        : { ...base, GIT_DIR: join(dir, '.git'), GIT_WORK_TREE: dir, ...options.env },
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
  const detail = result.stderr.trim().split('\n').slice(-5).join(' / ');
  return new GitError(`git ${command ?? ''} failed (exit ${result.code}): ${detail}`);
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
      if (overflow) return fail(new GitError(`git printed more than ${MAX_OUTPUT} bytes`));
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
