import { spawn } from 'node:child_process';
import { lookup as dnsLookup } from 'node:dns/promises';
import { lstat, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { isIPv4, isIPv6 } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A task's repository or ref refused before any git runs. The run ends with
 * error class INVALID_SPEC and this message, which starts with the field
 * ("repo: the ext:: transport is not allowed").
 */
export class InvalidSpecError extends Error {
  constructor(
    readonly field: 'repo' | 'clone_branch' | 'push_branch',
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'InvalidSpecError';
  }
}

/**
 * git failed, timed out or was aborted. Not the user's fault (or not provably):
 * network, authentication, a server that refuses, a workspace in a bad state.
 */
export class GitError extends Error {
  constructor(
    message: string,
    readonly reason: 'failed' | 'timeout' | 'aborted' = 'failed',
  ) {
    super(message);
    this.name = 'GitError';
  }
}

/** What a runner lets tasks fetch from; both off for multi-tenant runners. */
export interface SourcePolicy {
  /** Local paths and file:// URLs (development and tests only). */
  allowLocal: boolean;
  /** Hosts on loopback, private, link-local... networks (SSRF into the runner's network). */
  allowPrivateHosts: boolean;
}

/** Resolves a host name to its addresses; injectable because tests have no DNS. */
export type HostLookup = (host: string) => Promise<string[]>;

export interface CheckedRepo {
  kind: 'https' | 'ssh' | 'local';
  url: string;
}

export interface WorkspaceChange {
  path: string;
  status: 'added' | 'modified' | 'deleted' | 'renamed';
  /** The old path of a renamed file. */
  from?: string;
}

/** Identity of the commits the runner makes in a workspace. */
const COMMITTER = { name: 'Drover', email: 'drover@localhost' };
const MAX_URL_LENGTH = 2048;
const MAX_REF_LENGTH = 1024;
/** Cap on what one git command may print (the diff's patch is the big one). */
const MAX_OUTPUT = 64 * 1024 * 1024;
const COMMIT_ID = /^[0-9a-f]{7,64}$/i;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;
/** git's `<transport>::<address>` form runs a remote helper (ext:: runs a command). */
const TRANSPORT = /^([A-Za-z][A-Za-z0-9+.-]*)::/;
const SCP = /^([^@/:]+)@(\[[^\]]*\]|[^/:[\]]+):(.*)$/;
const USER = /^[A-Za-z0-9._][A-Za-z0-9._-]*$/;
const LABEL = '[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?';
const HOST_NAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*$`);
const SSH_BASE = 'ssh -oBatchMode=yes -oStrictHostKeyChecking=accept-new';

/** Where a checked repository lives, with the addresses git must connect to. */
interface Target extends CheckedRepo {
  host?: string;
  port?: number;
  /** Addresses a host name resolved to when checked; git is pinned to them (no DNS rebinding). */
  pinned?: string[];
}

/**
 * Checks a task's repository address: https, ssh (URL or scp-like) or, when the
 * policy allows, a local repository. Hosts must not be (or resolve to) addresses
 * of the runner's own networks unless the policy allows it.
 */
export async function checkRepo(
  repo: string,
  policy: SourcePolicy,
  lookup: HostLookup = defaultLookup,
): Promise<CheckedRepo> {
  const { kind, url } = await inspectRepo(repo, policy, lookup);
  return { kind, url };
}

async function inspectRepo(
  repo: string,
  policy: SourcePolicy,
  lookup: HostLookup,
  signal?: AbortSignal,
): Promise<Target> {
  const refuse = (message: string) => new InvalidSpecError('repo', message);
  if (repo.length === 0) throw refuse('must not be empty');
  if (repo.length > MAX_URL_LENGTH) throw refuse(`longer than ${MAX_URL_LENGTH} characters`);
  if (repo.startsWith('-')) throw refuse("must not start with '-'");
  const transport = TRANSPORT.exec(repo);
  if (transport) throw refuse(`the ${transport[1]}:: transport is not allowed`);
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(repo)) {
    throw refuse('must not contain whitespace or control characters');
  }
  if (repo.includes('\\')) throw refuse("must not contain '\\'");

  const scheme = SCHEME.exec(repo)?.[1]?.toLowerCase();
  if (scheme !== undefined) {
    const rest = repo.slice(scheme.length + 3);
    switch (scheme) {
      case 'https':
        return remote('https', `https://${rest}`, rest, 443, policy, lookup, signal);
      case 'ssh':
        return remote('ssh', `ssh://${rest}`, rest, 22, policy, lookup, signal);
      case 'http':
        throw refuse('plain http:// is not allowed (unencrypted); use https://');
      case 'git':
        throw refuse('the git:// protocol is not allowed (unauthenticated and unencrypted)');
      case 'file':
        if (!policy.allowLocal) throw refuse('local repositories (file://) are not allowed');
        if (!rest.startsWith('/')) throw refuse('a file:// URL must be file:///absolute/path');
        await checkLocal(rest);
        return { kind: 'local', url: repo };
      default:
        throw refuse(`the ${scheme}:// scheme is not allowed`);
    }
  }
  if (repo.startsWith('/')) {
    if (!policy.allowLocal) throw refuse('local paths are not allowed');
    await checkLocal(repo);
    return { kind: 'local', url: repo };
  }
  const scp = SCP.exec(repo);
  if (scp) {
    const [user = '', host = '', path = ''] = scp.slice(1);
    if (!USER.test(user)) throw refuse(`invalid user name "${user}"`);
    if (path.length === 0) throw refuse('the repository path is empty');
    if (path.startsWith('-')) throw refuse("the repository path must not start with '-'");
    const name = await checkHost(host, policy, lookup, signal);
    return { kind: 'ssh', url: repo, host: name.host, pinned: name.pinned };
  }
  if (policy.allowLocal && !repo.includes(':')) throw refuse('a local path must be absolute');
  throw refuse('not a supported repository address (use https://, ssh:// or user@host:path)');
}

/** An https:// or ssh:// URL: `rest` is what follows the scheme. */
async function remote(
  kind: 'https' | 'ssh',
  url: string,
  rest: string,
  defaultPort: number,
  policy: SourcePolicy,
  lookup: HostLookup,
  signal: AbortSignal | undefined,
): Promise<Target> {
  const refuse = (message: string) => new InvalidSpecError('repo', message);
  const slash = rest.indexOf('/');
  let authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const user = authority.slice(0, at);
    if (kind === 'https' || user.includes(':')) {
      throw refuse('credentials in the URL are not allowed');
    }
    if (!USER.test(user)) throw refuse(`invalid user name "${user}"`);
    authority = authority.slice(at + 1);
  }
  const parts = /^(\[[^\]]*\]|[^:]*)(?::(\d{1,5}))?$/.exec(authority);
  if (!parts) throw refuse(`invalid host or port in "${authority}"`);
  const port = parts[2] === undefined ? defaultPort : Number(parts[2]);
  if (port < 1 || port > 65535) throw refuse(`invalid port ${parts[2]}`);
  if (kind === 'ssh' && path.length < 2) throw refuse('the repository path is empty');
  const name = await checkHost(parts[1], policy, lookup, signal);
  return { kind, url, host: name.host, port, pinned: name.pinned };
}

/** A host name or IP literal (IPv6 in brackets), checked against the policy. */
async function checkHost(
  raw: string,
  policy: SourcePolicy,
  lookup: HostLookup,
  signal: AbortSignal | undefined,
): Promise<{ host: string; pinned?: string[] }> {
  const refuse = (message: string) => new InvalidSpecError('repo', message);
  if (raw.length === 0) throw refuse('the host is empty');
  if (raw.startsWith('[')) {
    const address = raw.slice(1, -1);
    if (!raw.endsWith(']') || !isIPv6(address)) throw refuse(`invalid IPv6 address ${raw}`);
    checkAddress(address, address, policy);
    return { host: raw };
  }
  const host = raw.endsWith('.') ? raw.slice(0, -1) : raw;
  if (host.length > 253 || !HOST_NAME.test(host)) throw refuse(`invalid host "${raw}"`);
  if (isIPv4(host)) {
    checkAddress(host, host, policy);
    return { host: raw };
  }
  // The resolver reads "127.1", "2130706433" or "0x7f.1" as IPv4 addresses: only
  // plain dotted quads are taken, so that what is checked is what git connects to.
  if (/^(?:\d+|0x[0-9a-f]*)$/i.test(host.slice(host.lastIndexOf('.') + 1))) {
    throw refuse(`host ${raw} is not a valid IP address (use the dotted form a.b.c.d)`);
  }
  let addresses: string[];
  try {
    addresses = await abortable(lookup(host), signal);
  } catch (error) {
    if (error instanceof GitError) throw error;
    throw refuse(`host ${raw} does not resolve`);
  }
  if (addresses.length === 0) throw refuse(`host ${raw} does not resolve`);
  for (const address of addresses) checkAddress(address, raw, policy);
  return { host: raw, pinned: addresses };
}

function checkAddress(address: string, host: string, policy: SourcePolicy): void {
  if (policy.allowPrivateHosts) return;
  const kind = addressKind(address);
  if (kind === undefined) return;
  const message =
    host === address ? `host ${host} is ${kind}` : `host ${host} resolves to ${address}, ${kind}`;
  throw new InvalidSpecError('repo', message);
}

/** Why an address is not on the public internet, or undefined when it is. */
function addressKind(address: string): string | undefined {
  const bare = address.replace(/%.*$/, '');
  if (isIPv4(bare)) return ipv4Kind(bare.split('.').map(Number));
  if (!isIPv6(bare)) return 'not an IP address';
  const w = ipv6Words(bare);
  const zeros = (n: number) => w.slice(0, n).every((word) => word === 0);
  const embedded = (high: number, low: number, how: string) => {
    const kind = ipv4Kind([high >> 8, high & 255, low >> 8, low & 255]);
    return kind && `${kind} (${how})`;
  };
  if (zeros(8)) return 'an unspecified address';
  if (zeros(7) && w[7] === 1) return 'a loopback address';
  if (zeros(5) && w[5] === 0xffff) return embedded(w[6], w[7], 'IPv4-mapped');
  if (zeros(6)) return embedded(w[6], w[7], 'IPv4-compatible') ?? 'a reserved address';
  if (w[0] === 0x64 && w[1] === 0xff9b && w.slice(2, 6).every((word) => word === 0)) {
    return embedded(w[6], w[7], 'NAT64');
  }
  if (w[0] === 0x2002) return embedded(w[1], w[2], '6to4');
  const first = w[0];
  if ((first & 0xfe00) === 0xfc00) return 'a private address';
  if ((first & 0xffc0) === 0xfe80) return 'a link-local address';
  if ((first & 0xffc0) === 0xfec0) return 'a private address (site-local)';
  if ((first & 0xff00) === 0xff00) return 'a multicast address';
  return undefined;
}

function ipv4Kind([a = 0, b = 0]: number[]): string | undefined {
  if (a === 0) return 'an unspecified address';
  if (a === 127) return 'a loopback address';
  if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168)) {
    return 'a private address';
  }
  if (a === 100 && b >= 64 && b <= 127) return 'a private address (CGNAT)';
  if (a === 169 && b === 254) return 'a link-local address';
  if (a >= 224 && a <= 239) return 'a multicast address';
  if (a >= 240 || (a === 198 && (b === 18 || b === 19))) return 'a reserved address';
  return undefined;
}

/** The eight 16-bit words of a valid IPv6 address. */
function ipv6Words(address: string): number[] {
  let text = address;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const parse = (part: string) => (part ? part.split(':').map((word) => parseInt(word, 16)) : []);
  const high = parse(head);
  const low = tail === undefined ? [] : parse(tail);
  return [...high, ...Array<number>(8 - high.length - low.length).fill(0), ...low];
}

async function checkLocal(path: string): Promise<void> {
  const refuse = (message: string) => new InvalidSpecError('repo', message);
  if (!(await isDirectory(path))) throw refuse(`${path} does not exist or is not a directory`);
  // Checked by its files, not by running git in a directory we do not trust.
  const dotGit = join(path, '.git');
  const bare =
    (await isFile(join(path, 'HEAD'))) &&
    (await isDirectory(join(path, 'objects'))) &&
    (await isDirectory(join(path, 'refs')));
  if (!bare && !(await isDirectory(dotGit)) && !(await isFile(dotGit))) {
    throw refuse(`${path} is not a git repository`);
  }
}

/**
 * Checks a ref a task names: the branch, tag or commit to clone, or the branch
 * to push. git's own check-ref-format has the last word; the common mistakes
 * get their own message first.
 */
export async function checkRef(ref: string, field: 'clone_branch' | 'push_branch'): Promise<void> {
  const refuse = (message: string) => new InvalidSpecError(field, message);
  if (ref.length === 0) throw refuse('must not be empty');
  if (ref.length > MAX_REF_LENGTH) throw refuse(`longer than ${MAX_REF_LENGTH} characters`);
  if (ref.startsWith('-')) throw refuse("must not start with '-'");
  if (field === 'clone_branch' && COMMIT_ID.test(ref)) return;
  // eslint-disable-next-line no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(ref)) {
    throw refuse('must not contain whitespace or control characters');
  }
  if (ref.startsWith('+')) throw refuse("must not start with '+'");
  for (const bad of ['..', '@{', '~', '^', ':', '?', '*', '[', '\\']) {
    if (ref.includes(bad)) throw refuse(`must not contain '${bad}'`);
  }
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
    const target = await inspectRepo(
      opts.repo,
      opts.policy,
      opts.lookup ?? defaultLookup,
      stop.signal,
    );
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
    const target = await inspectRepo(
      opts.repo,
      opts.policy,
      opts.lookup ?? defaultLookup,
      stop.signal,
    );
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

/** Settles with the promise, or rejects with the signal's reason once it fires. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise((done, fail) => {
    const onAbort = () => fail(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(done, fail).finally(() => signal.removeEventListener('abort', onAbort));
  });
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

async function defaultLookup(host: string): Promise<string[]> {
  const answers = await dnsLookup(host, { all: true });
  return answers.map((answer) => answer.address);
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}
