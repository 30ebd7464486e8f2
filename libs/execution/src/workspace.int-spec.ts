import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import {
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { testGit } from '@drover/testing';
import { checkRepo, type HostLookup, type SourcePolicy } from './repo-source';
import { shareGitDir } from './git-dir';
import {
  checkRef,
  commitAndPush as push,
  diffWorkspace as diff,
  prepareWorkspace as prepare,
  type PrepareOptions,
  type PushOptions,
} from './workspace';
import { GitError, InvalidSpecError, WorkTreeError } from './workspace-errors';

const STRICT: SourcePolicy = { allowLocal: false, allowPrivateHosts: false };
const LOCAL: SourcePolicy = { allowLocal: true, allowPrivateHosts: false };

/** Simulated DNS (there is no network here): a few names, everything else unknown. */
const DNS: Record<string, string[]> = {
  'example.com': ['93.184.216.34'],
  'git.example.com': ['2606:2800:220:1:248:1893:25c8:1946'],
  localhost: ['127.0.0.1'],
  'intranet.example.com': ['93.184.216.35', '10.0.0.5'],
  'metadata.example.com': ['::ffff:169.254.169.254'],
};
const lookup: HostLookup = (host) => {
  const answer = DNS[host];
  return answer
    ? Promise.resolve(answer)
    : Promise.reject(
        Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' }),
      );
};

let root: string;
let source: string;
/** Commits of the source: main is c1 then c2; feature is c1 then c3; tag v1 (annotated) is c1. */
let c1: string;
let c2: string;
let c3: string;

/** git for the tests' own setup and checks. */
const git = (cwd: string, ...args: string[]) => testGit(root, cwd, ...args);

async function commit(cwd: string, files: Record<string, string>, message: string) {
  for (const [name, text] of Object.entries(files)) await writeFile(join(cwd, name), text);
  await git(cwd, 'add', '-A');
  await git(cwd, 'commit', '-q', '-m', message);
  return (await git(cwd, 'rev-parse', 'HEAD')).trim();
}

let count = 0;
/** A test workspace, in a directory of its own beside its git dir (as a run's). */
async function emptyDir(): Promise<string> {
  const dir = join(root, `ws-${++count}`, 'workspace');
  await mkdir(dir, { recursive: true });
  return dir;
}
/** The runner's git dir of the workspace `dir`. */
const gitDirOf = (dir: string) => join(dirname(dir), 'git');
const prepareWorkspace = (opts: Omit<PrepareOptions, 'gitDir'>) =>
  prepare({ ...opts, gitDir: gitDirOf(opts.dir) });
const diffWorkspace = (dir: string, base: string) => diff({ dir, gitDir: gitDirOf(dir) }, base);
const commitAndPush = (opts: Omit<PushOptions, 'gitDir'>) =>
  push({ ...opts, gitDir: gitDirOf(opts.dir) });
/** git on the repository of the workspace `dir`: its git dir, with `dir` as the work tree. */
const repo = (dir: string, ...args: string[]) =>
  git(dir, `--git-dir=${gitDirOf(dir)}`, `--work-tree=${dir}`, ...args);

async function refusal(promise: Promise<unknown>): Promise<InvalidSpecError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof InvalidSpecError)) {
    throw new Error(`expected an InvalidSpecError, got ${String(error)}`);
  }
  return error;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-workspace-'));
  source = join(root, 'source');
  await mkdir(source);
  await git(source, 'init', '-q', '-b', 'main');
  c1 = await commit(source, { 'README.md': 'one\n', 'b.txt': 'bee\n', 'c.txt': 'sea\n' }, 'one');
  c2 = await commit(source, { 'README.md': 'two\n' }, 'two');
  await git(source, 'tag', '-a', 'v1', '-m', 'version 1', c1);
  await git(source, 'checkout', '-q', '-b', 'feature', c1);
  c3 = await commit(source, { 'feature.txt': 'feature\n' }, 'three');
  await git(source, 'checkout', '-q', 'main');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('prepareWorkspace', () => {
  async function cloneAt(ref: string) {
    const dir = await emptyDir();
    const { commit: at } = await prepareWorkspace({ repo: source, ref, dir, policy: LOCAL });
    return { dir, at };
  }

  it('checks out a branch', async () => {
    const { dir, at } = await cloneAt('feature');
    expect(at).toBe(c3);
    expect((await repo(dir, 'rev-parse', 'HEAD')).trim()).toBe(c3);
    expect(await readFile(join(dir, 'feature.txt'), 'utf8')).toBe('feature\n');
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('one\n');
    expect(await repo(dir, 'status', '--porcelain')).toBe('');
    // The repository is beside the workspace, not in it.
    expect(existsSync(join(dir, '.git'))).toBe(false);
  });

  it('checks out the default branch through HEAD and main', async () => {
    expect((await cloneAt('HEAD')).at).toBe(c2);
    const { dir, at } = await cloneAt('main');
    expect(at).toBe(c2);
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('two\n');
    expect(existsSync(join(dir, 'feature.txt'))).toBe(false);
  });

  it('checks out an annotated tag at its commit', async () => {
    const { dir, at } = await cloneAt('v1');
    expect(at).toBe(c1);
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('one\n');
  });

  it('checks out a full commit id', async () => {
    const { dir, at } = await cloneAt(c1);
    expect(at).toBe(c1);
    expect((await repo(dir, 'rev-parse', 'HEAD')).trim()).toBe(c1);
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('one\n');
  });

  it('checks out an abbreviated commit id', async () => {
    const { dir, at } = await cloneAt(c3.slice(0, 8));
    expect(at).toBe(c3);
    expect(await readFile(join(dir, 'feature.txt'), 'utf8')).toBe('feature\n');
  });

  it('sets the Drover identity and no hooks or other settings', async () => {
    const { dir } = await cloneAt('main');
    expect((await repo(dir, 'config', 'user.name')).trim()).toBe('Drover');
    const config = await readFile(join(gitDirOf(dir), 'config'), 'utf8');
    expect(config).not.toMatch(/hooks|fsmonitor|remote|worktree/);
    expect(config).toMatch(/bare = false/);
    expect(existsSync(join(gitDirOf(dir), 'hooks'))).toBe(false);
  });

  it.each(['nope', 'feature/missing', 'deadbeefdeadbeef', 'a'.repeat(40)])(
    'refuses a ref that does not exist: %s',
    async (ref) => {
      const error = await refusal(
        prepareWorkspace({ repo: source, ref, dir: await emptyDir(), policy: LOCAL }),
      );
      expect(error.field).toBe('clone_branch');
      expect(error.message).toBe(`clone_branch: "${ref}" not found in ${source}`);
    },
  );

  it('refuses local repositories unless the policy allows them, before running git', async () => {
    for (const repo of [source, `file://${source}`]) {
      const dir = await emptyDir();
      const error = await refusal(prepareWorkspace({ repo, ref: 'main', dir, policy: STRICT }));
      expect(error.field).toBe('repo');
      expect(error.message).toMatch(
        /^repo: local (paths|repositories \(file:\/\/\)) are not allowed$/,
      );
      expect(existsSync(gitDirOf(dir))).toBe(false);
    }
    await expect(checkRepo(source, LOCAL)).resolves.toEqual({ kind: 'local', url: source });
    await expect(checkRepo(`file://${source}`, LOCAL)).resolves.toEqual({
      kind: 'local',
      url: `file://${source}`,
    });
  });

  it('refuses local paths that are relative, missing or not repositories', async () => {
    const plain = await emptyDir();
    await expect(checkRepo('source', LOCAL)).rejects.toThrow('repo: a local path must be absolute');
    await expect(checkRepo(join(root, 'missing'), LOCAL)).rejects.toThrow(
      `repo: ${join(root, 'missing')} does not exist or is not a directory`,
    );
    await expect(checkRepo(plain, LOCAL)).rejects.toThrow(`repo: ${plain} is not a git repository`);
    const bare = join(root, 'bare-check.git');
    await git(root, 'init', '-q', '--bare', bare);
    await expect(checkRepo(bare, LOCAL)).resolves.toEqual({ kind: 'local', url: bare });
  });

  it('refuses a directory that is not empty', async () => {
    const dir = await emptyDir();
    await writeFile(join(dir, 'x'), 'x');
    await expect(
      prepareWorkspace({ repo: source, ref: 'main', dir, policy: LOCAL }),
    ).rejects.toThrow(GitError);
  });

  it('stops when aborted or out of time', async () => {
    const controller = new AbortController();
    controller.abort();
    const aborted = prepareWorkspace({
      repo: source,
      ref: 'main',
      dir: await emptyDir(),
      policy: LOCAL,
      signal: controller.signal,
    });
    await expect(aborted).rejects.toMatchObject({ name: 'GitError', reason: 'aborted' });
    // A resolver that never answers: the timeout covers DNS too.
    const slow = prepareWorkspace({
      repo: 'https://example.com/r.git',
      ref: 'main',
      dir: await emptyDir(),
      policy: STRICT,
      timeoutMs: 100,
      lookup: () => new Promise<string[]>(() => undefined),
    });
    await expect(slow).rejects.toMatchObject({ name: 'GitError', reason: 'timeout' });
  });
  it('kills git (and its ssh) when the timeout passes or the signal fires mid-fetch', async () => {
    // A server that accepts and never answers: ssh waits for its banner forever.
    const sockets: Socket[] = [];
    const closed: Promise<void>[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      closed.push(new Promise((resolve) => socket.on('close', () => resolve())));
      socket.on('error', () => undefined);
      socket.resume();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const repo = `ssh://git@127.0.0.1:${port}/r.git`;
    const policy: SourcePolicy = { allowLocal: false, allowPrivateHosts: true };
    try {
      const timedOut = prepareWorkspace({
        repo,
        ref: 'main',
        dir: await emptyDir(),
        policy,
        timeoutMs: 500,
      });
      await expect(timedOut).rejects.toMatchObject({ name: 'GitError', reason: 'timeout' });
      const controller = new AbortController();
      const aborted = prepareWorkspace({
        repo,
        ref: 'main',
        dir: await emptyDir(),
        policy,
        signal: controller.signal,
      });
      while (sockets.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
      controller.abort();
      await expect(aborted).rejects.toMatchObject({ name: 'GitError', reason: 'aborted' });
      // ssh is gone with git: both connections were closed by the client side.
      await Promise.all(closed);
      expect(sockets).toHaveLength(2);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
});

describe('checkRepo', () => {
  it('accepts https, ssh URLs and scp-like addresses on public hosts', async () => {
    await expect(checkRepo('https://example.com/org/r.git', STRICT, lookup)).resolves.toEqual({
      kind: 'https',
      url: 'https://example.com/org/r.git',
    });
    await expect(checkRepo('HTTPS://example.com:8443/r', STRICT, lookup)).resolves.toEqual({
      kind: 'https',
      url: 'https://example.com:8443/r',
    });
    await expect(
      checkRepo('ssh://git@git.example.com:2222/org/r.git', STRICT, lookup),
    ).resolves.toEqual({ kind: 'ssh', url: 'ssh://git@git.example.com:2222/org/r.git' });
    await expect(checkRepo('git@example.com:org/r.git', STRICT, lookup)).resolves.toEqual({
      kind: 'ssh',
      url: 'git@example.com:org/r.git',
    });
    await expect(checkRepo('https://93.184.216.34/r.git', STRICT, lookup)).resolves.toMatchObject({
      kind: 'https',
    });
  });

  it('lets allowPrivateHosts through to private and loopback hosts', async () => {
    const open: SourcePolicy = { allowLocal: false, allowPrivateHosts: true };
    await expect(checkRepo('https://127.0.0.1/r.git', open, lookup)).resolves.toEqual({
      kind: 'https',
      url: 'https://127.0.0.1/r.git',
    });
    await expect(checkRepo('ssh://localhost/r', open, lookup)).resolves.toMatchObject({
      kind: 'ssh',
    });
    await expect(checkRepo('https://[::1]/r', open, lookup)).resolves.toMatchObject({
      kind: 'https',
    });
    // Still no plain http, no transports, no local paths.
    await expect(checkRepo('http://127.0.0.1/r', open, lookup)).rejects.toThrow(InvalidSpecError);
    await expect(checkRepo(source, open, lookup)).rejects.toThrow(InvalidSpecError);
  });

  it('uses real DNS by default: localhost is loopback', async () => {
    await expect(checkRepo('https://localhost/r.git', STRICT)).rejects.toThrow(
      /^repo: host localhost resolves to (127\.0\.0\.1|::1), a loopback address$/,
    );
  });
});

/** Files the hostile inputs below would create if anything ran them. */
const MARKERS = ['/tmp/pwned', '/tmp/x'];

describe('hostile input', () => {
  const markerDir = join(tmpdir(), `drover-hostile-${process.pid}`);
  const before = new Map(MARKERS.map((m) => [m, existsSync(m)]));

  const repos: [string, RegExp][] = [
    ['ext::sh -c touch% /tmp/pwned', /^repo: the ext:: transport is not allowed$/],
    [`ext::sh -c touch% ${markerDir}/ext`, /^repo: the ext:: transport is not allowed$/],
    ['fd::17', /^repo: the fd:: transport is not allowed$/],
    ['-uhttps://x', /^repo: must not start with '-'$/],
    ['--upload-pack=touch /tmp/x', /^repo: must not start with '-'$/],
    [`--upload-pack=touch ${markerDir}/upload-pack`, /^repo: must not start with '-'$/],
    ['https://user:pw@example.com/r.git', /^repo: credentials in the URL are not allowed$/],
    ['https://token@example.com/r.git', /^repo: credentials in the URL are not allowed$/],
    ['http://example.com/r.git', /^repo: plain http:\/\/ is not allowed/],
    ['git://example.com/r.git', /^repo: the git:\/\/ protocol is not allowed/],
    ['ftp://example.com/r.git', /^repo: the ftp:\/\/ scheme is not allowed$/],
    ['https://127.0.0.1/r.git', /^repo: host 127\.0\.0\.1 is a loopback address$/],
    ['https://[::1]/r.git', /^repo: host ::1 is a loopback address$/],
    ['https://169.254.169.254/latest', /^repo: host 169\.254\.169\.254 is a link-local address$/],
    ['https://10.1.2.3/r', /^repo: host 10\.1\.2\.3 is a private address$/],
    ['https://172.20.0.1/r', /^repo: host 172\.20\.0\.1 is a private address$/],
    ['https://192.168.1.1/r', /^repo: host 192\.168\.1\.1 is a private address$/],
    ['https://100.64.0.1/r', /^repo: host 100\.64\.0\.1 is a private address \(CGNAT\)$/],
    ['https://[fd00::1]/r', /^repo: host fd00::1 is a private address$/],
    ['https://[fe80::1]/r', /^repo: host fe80::1 is a link-local address$/],
    ['https://0.0.0.0/r', /^repo: host 0\.0\.0\.0 is an unspecified address$/],
    ['https://[::]/r', /^repo: host :: is an unspecified address$/],
    ['https://224.0.0.1/r', /^repo: host 224\.0\.0\.1 is a multicast address$/],
    ['https://[ff02::1]/r', /^repo: host ff02::1 is a multicast address$/],
    [
      'https://[::ffff:127.0.0.1]/r',
      /^repo: host ::ffff:127\.0\.0\.1 is a loopback address \(IPv4-mapped\)$/,
    ],
    ['https://[::ffff:a00:1]/r', /^repo: host ::ffff:a00:1 is a private address \(IPv4-mapped\)$/],
    ['https://2130706433/r', /^repo: host 2130706433 is not a valid IP address/],
    ['https://127.1/r', /^repo: host 127\.1 is not a valid IP address/],
    ['https://0x7f.0.0.1/r', /^repo: host 0x7f\.0\.0\.1 is not a valid IP address/],
    ['ssh://localhost/r', /^repo: host localhost resolves to 127\.0\.0\.1, a loopback address$/],
    ['git@localhost:r.git', /^repo: host localhost resolves to 127\.0\.0\.1, a loopback address$/],
    [
      'https://intranet.example.com/r',
      /^repo: host intranet\.example\.com resolves to 10\.0\.0\.5, a private address$/,
    ],
    [
      'https://metadata.example.com/r',
      /^repo: host metadata\.example\.com resolves to ::ffff:169\.254\.169\.254, a link-local address \(IPv4-mapped\)$/,
    ],
    ['https://nowhere.invalid/r.git', /^repo: host nowhere\.invalid does not resolve$/],
    ['https://evil.example\\@127.0.0.1/r', /^repo: must not contain '\\'$/],
    ['https://example.com/r.git\n', /^repo: must not contain whitespace or control characters$/],
    ['https://exa mple.com/r.git', /^repo: must not contain whitespace or control characters$/],
    ['https://ex%61mple.com/r.git', /^repo: invalid host "ex%61mple\.com"$/],
    ['https://example.com:0/r', /^repo: invalid port 0$/],
    ['ssh://-oProxyCommand=touch/r', /^repo: invalid host "-oProxyCommand=touch"$/],
    ['git@-oProxyCommand=x:r', /^repo: invalid host "-oProxyCommand=x"$/],
    ['git@example.com:-r', /^repo: the repository path must not start with '-'$/],
    ['ssh://user:pw@example.com/r', /^repo: credentials in the URL are not allowed$/],
    ['example.com:r.git', /^repo: not a supported repository address/],
    ['', /^repo: must not be empty$/],
    [`https://example.com/${'a'.repeat(2048)}`, /^repo: longer than 2048 characters$/],
  ];

  beforeAll(async () => {
    await mkdir(markerDir, { recursive: true });
  });

  afterAll(async () => {
    await rm(markerDir, { recursive: true, force: true });
  });

  /** Test titles show long inputs cut short. */
  const short = (text: string) =>
    text.length > 80 ? `${text.slice(0, 40)}... (${text.length} characters)` : text;

  it.each(repos.map(([repo, message]) => ({ label: short(repo), repo, message })))(
    'refuses repo $label',
    async ({ repo, message }) => {
      const error = await refusal(checkRepo(repo, STRICT, lookup));
      expect(error.field).toBe('repo');
      expect(error.message).toMatch(message);
      // The most permissive policy short of private hosts refuses it just the same.
      const again = await refusal(
        prepareWorkspace({ repo, ref: 'main', dir: await emptyDir(), policy: LOCAL, lookup }),
      );
      expect(again.message).toBe(error.message);
    },
  );

  const cloneRefs: [string, RegExp][] = [
    ['-x', /^clone_branch: must not start with '-'$/],
    ['--upload-pack=touch /tmp/x', /^clone_branch: must not start with '-'$/],
    [`--upload-pack=touch ${markerDir}/ref`, /^clone_branch: must not start with '-'$/],
    ['main..other', /^clone_branch: must not contain '\.\.'$/],
    ['a b', /^clone_branch: must not contain whitespace or control characters$/],
    ['a\tb', /^clone_branch: must not contain whitespace or control characters$/],
    ['refs/heads/../x', /^clone_branch: must not contain '\.\.'$/],
    ['main~1', /^clone_branch: must not contain '~'$/],
    ['main^', /^clone_branch: must not contain '\^'$/],
    ['main:refs/heads/x', /^clone_branch: must not contain ':'$/],
    ['+main', /^clone_branch: must not start with '\+'$/],
    ['main@{1}', /^clone_branch: must not contain '@\{'$/],
    ['refs/*', /^clone_branch: must not contain '\*'$/],
    ['main.lock', /^clone_branch: no part of it may end with '\.lock'$/],
    ['@', /^clone_branch: must not be '@'$/],
    ['main/', /^clone_branch: must not start or end with '\/' or contain '\/\/'$/],
    ['/main', /^clone_branch: must not start or end with '\/' or contain '\/\/'$/],
    ['', /^clone_branch: must not be empty$/],
  ];

  it.each(cloneRefs)('refuses clone_branch %j', async (ref, message) => {
    const error = await refusal(checkRef(ref, 'clone_branch'));
    expect(error.field).toBe('clone_branch');
    expect(error.message).toMatch(message);
    const again = await refusal(
      prepareWorkspace({ repo: source, ref, dir: await emptyDir(), policy: LOCAL }),
    );
    expect(again.message).toBe(error.message);
  });

  const pushRefs: [string, RegExp][] = [
    ['HEAD', /^push_branch: must be a branch name, not HEAD$/],
    ['refs/tags/v2', /^push_branch: must be a branch \(refs\/heads\/\.\.\.\)/],
    ['refs/remotes/origin/x', /^push_branch: must be a branch \(refs\/heads\/\.\.\.\)/],
    ['-f', /^push_branch: must not start with '-'$/],
    ['a:b', /^push_branch: must not contain ':'$/],
    ['x~', /^push_branch: must not contain '~'$/],
  ];

  it.each(pushRefs)('refuses push_branch %j', async (ref, message) => {
    const error = await refusal(checkRef(ref, 'push_branch'));
    expect(error.field).toBe('push_branch');
    expect(error.message).toMatch(message);
  });

  it('accepts ordinary refs and commit ids', async () => {
    for (const ref of ['main', 'feature/x-1', 'v1.0', 'refs/heads/main', 'HEAD', c1, 'abc1234']) {
      await expect(checkRef(ref, 'clone_branch')).resolves.toBeUndefined();
    }
    for (const ref of ['drover/run-1', 'refs/heads/drover/run-1', 'abc1234']) {
      await expect(checkRef(ref, 'push_branch')).resolves.toBeUndefined();
    }
  });

  it('created no file anywhere', () => {
    for (const marker of MARKERS) expect(existsSync(marker)).toBe(before.get(marker));
    expect(existsSync(join(markerDir, 'ext'))).toBe(false);
    expect(existsSync(join(markerDir, 'upload-pack'))).toBe(false);
    expect(existsSync(join(markerDir, 'ref'))).toBe(false);
  });
});

describe('diffWorkspace', () => {
  it('lists added, modified, deleted and renamed files with a patch that applies to the base', async () => {
    const dir = await emptyDir();
    const { commit: base } = await prepareWorkspace({
      repo: source,
      ref: 'main',
      dir,
      policy: LOCAL,
    });
    await writeFile(join(dir, 'README.md'), 'three\n');
    await unlink(join(dir, 'b.txt'));
    await rename(join(dir, 'c.txt'), join(dir, 'd.txt'));
    await mkdir(join(dir, 'new'));
    await writeFile(join(dir, 'new', 'file.txt'), 'fresh\n');
    await writeFile(join(dir, 'blob.bin'), Buffer.from([0, 1, 2, 255, 0, 10]));
    await writeFile(join(dir, '.gitignore'), 'ignored.log\n');
    await writeFile(join(dir, 'ignored.log'), 'noise\n');
    const status = await repo(dir, 'status', '--porcelain');
    const head = await repo(dir, 'rev-parse', 'HEAD');
    const index = await readFile(join(gitDirOf(dir), 'index'));

    const { files, patch } = await diffWorkspace(dir, base);

    expect([...files].sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual([
      { path: '.gitignore', status: 'added' },
      { path: 'README.md', status: 'modified' },
      { path: 'b.txt', status: 'deleted' },
      { path: 'blob.bin', status: 'added' },
      { path: 'd.txt', status: 'renamed', from: 'c.txt' },
      { path: 'new/file.txt', status: 'added' },
    ]);
    expect(patch).toContain('GIT binary patch');
    // The repository's own state is untouched.
    expect(await repo(dir, 'status', '--porcelain')).toBe(status);
    expect(await repo(dir, 'rev-parse', 'HEAD')).toBe(head);
    expect((await readFile(join(gitDirOf(dir), 'index'))).equals(index)).toBe(true);

    // The patch turns a fresh checkout of the base into the work tree.
    const other = await emptyDir();
    await prepareWorkspace({ repo: source, ref: base, dir: other, policy: LOCAL });
    await writeFile(join(root, 'change.patch'), patch);
    await git(other, 'apply', '--check', join(root, 'change.patch'));
    await git(other, 'apply', join(root, 'change.patch'));
    expect(await readFile(join(other, 'README.md'), 'utf8')).toBe('three\n');
    expect(await readFile(join(other, 'd.txt'), 'utf8')).toBe('sea\n');
    expect(await readFile(join(other, 'blob.bin'))).toEqual(Buffer.from([0, 1, 2, 255, 0, 10]));
    expect(existsSync(join(other, 'b.txt'))).toBe(false);
  });

  it('gives nothing for an unchanged workspace', async () => {
    const dir = await emptyDir();
    const { commit: base } = await prepareWorkspace({
      repo: source,
      ref: 'v1',
      dir,
      policy: LOCAL,
    });
    await expect(diffWorkspace(dir, base)).resolves.toEqual({ files: [], patch: '', nested: [] });
  });

  it("runs nothing the agent put in the sandbox's .git config", async () => {
    const dir = await emptyDir();
    const { commit: base } = await prepareWorkspace({
      repo: source,
      ref: 'main',
      dir,
      policy: LOCAL,
    });
    await shareGitDir(gitDirOf(dir), dir);
    const marker = join(root, 'agent-ran');
    const command = `sh -c 'touch ${marker}'`;
    await writeFile(
      join(dir, '.git', 'config'),
      `[core]\n\tfsmonitor = ${command}\n[filter "x"]\n\tclean = ${command}\n\trequired\n` +
        `[diff "x"]\n\ttextconv = ${command}\n\tcommand = ${command}\n`,
    );
    await writeFile(join(dir, '.gitattributes'), '* filter=x diff=x\n');
    await writeFile(join(dir, 'README.md'), 'changed\n');
    const { files } = await diffWorkspace(dir, base);
    expect(files.map((f) => f.path).sort()).toEqual(['.gitattributes', 'README.md']);
    expect(existsSync(marker)).toBe(false);
    expect(await readFile(join(gitDirOf(dir), 'config'), 'utf8')).not.toMatch(/fsmonitor|filter/);
  });

  it("never reads the sandbox's .git: links to the host, alternates, nested repositories", async () => {
    const dir = await emptyDir();
    const { commit: base } = await prepareWorkspace({
      repo: source,
      ref: 'main',
      dir,
      policy: LOCAL,
    });
    await shareGitDir(gitDirOf(dir), dir);
    const host = join(root, `host-${count}`);
    await mkdir(join(host, 'dir'), { recursive: true });
    await writeFile(join(host, 'file'), 'host\n');
    const before = await readdir(host, { recursive: true });
    const { mtimeMs } = await lstat(join(host, 'file'));
    await mkdir(join(dir, '.git', 'objects', 'info'), { recursive: true });
    await writeFile(join(dir, '.git', 'objects', 'info', 'alternates'), `${source}/.git/objects\n`);
    await rm(join(dir, '.git', 'logs'), { recursive: true, force: true });
    await symlink(join(host, 'dir'), join(dir, '.git', 'logs'));
    await symlink(join(host, 'file'), join(dir, '.git', 'COMMIT_EDITMSG'));
    await writeFile(join(dir, 'README.md'), 'changed\n');
    // A nested repository: a gitdir: file pointing at the source's.
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'file'), 'sub\n');
    await writeFile(join(dir, 'sub', '.git'), `gitdir: ${source}/.git\n`);

    const { files, nested } = await diffWorkspace(dir, base);
    expect(files).toEqual([
      { path: 'README.md', status: 'modified' },
      { path: 'sub/file', status: 'added' },
    ]);
    expect(nested).toEqual(['sub/.git']);
    expect(existsSync(join(dir, 'sub', '.git'))).toBe(false);
    const { commit } = await commitAndPush({
      dir,
      base,
      repo: source,
      branch: 'drover/links',
      message: 'links',
      policy: LOCAL,
    });
    expect(await git(source, 'show', `${commit}:sub/file`)).toBe('sub\n');
    expect(await readdir(host, { recursive: true })).toEqual(before);
    expect(await readFile(join(host, 'file'), 'utf8')).toBe('host\n');
    expect((await lstat(join(host, 'file'))).mtimeMs).toBe(mtimeMs);
    await expect(diffWorkspace(dir, '--output=/tmp/x')).rejects.toThrow(/is not a commit id/);
  });

  it('ends with a WorkTreeError naming the path when git refuses a file in the work tree', async () => {
    const dir = await emptyDir();
    const { commit: base } = await prepareWorkspace({
      repo: source,
      ref: 'main',
      dir,
      policy: LOCAL,
    });
    await mkdir(join(dir, 'GIT~1'));
    await writeFile(join(dir, 'GIT~1', 'x'), 'x\n');
    const error = await diffWorkspace(dir, base).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WorkTreeError);
    expect((error as Error).message).toMatch(/^git cannot record the workspace: .*'GIT~1\/x'/);
    expect((error as Error).message).not.toContain(root);
  });

  it('ends with a WorkTreeError when the diff is too large to keep', async () => {
    const dir = await emptyDir();
    const { commit: base } = await prepareWorkspace({
      repo: source,
      ref: 'main',
      dir,
      policy: LOCAL,
    });
    // Random bytes do not compress: their binary patch is over the 64 MiB git may print.
    await writeFile(join(dir, 'big.bin'), randomBytes(56 * 2 ** 20));
    const error = await diffWorkspace(dir, base).catch((e: unknown) => e);
    await rm(join(dir, 'big.bin'));
    expect(error).toBeInstanceOf(WorkTreeError);
    expect((error as Error).message).toBe("the workspace's diff is over 64 MiB");
  }, 120_000);
});

describe('commitAndPush', () => {
  let bare: string;

  beforeAll(async () => {
    bare = join(root, 'bare.git');
    await git(root, 'clone', '-q', '--bare', source, bare);
  });

  it('commits every change and pushes the branch', async () => {
    const dir = await emptyDir();
    const { commit: base } = await prepareWorkspace({
      repo: bare,
      ref: 'main',
      dir,
      policy: LOCAL,
    });
    await writeFile(join(dir, 'README.md'), 'pushed\n');
    await writeFile(join(dir, 'added.txt'), 'added\n');
    const { commit: pushed } = await commitAndPush({
      dir,
      base,
      repo: bare,
      branch: 'drover/run-1',
      message: 'Drover: run 1',
      policy: LOCAL,
    });
    expect((await git(bare, 'rev-parse', 'refs/heads/drover/run-1')).trim()).toBe(pushed);
    expect(await git(bare, 'show', 'drover/run-1:README.md')).toBe('pushed\n');
    expect(await git(bare, 'show', 'drover/run-1:added.txt')).toBe('added\n');
    expect((await git(bare, 'rev-parse', 'drover/run-1^')).trim()).toBe(c2);
    expect((await git(bare, 'log', '-1', '--format=%an|%s', 'drover/run-1')).trim()).toBe(
      'Drover|Drover: run 1',
    );
    // The repository's HEAD is the pushed commit (what a kept workspace carries on from).
    expect((await repo(dir, 'rev-parse', 'HEAD')).trim()).toBe(pushed);
    // main there is untouched.
    expect((await git(bare, 'rev-parse', 'main')).trim()).toBe(c2);
  });

  it('accepts refs/heads/ and pushes the branch under it once', async () => {
    const dir = await emptyDir();
    const { commit: base } = await prepareWorkspace({
      repo: bare,
      ref: 'feature',
      dir,
      policy: LOCAL,
    });
    await writeFile(join(dir, 'feature.txt'), 'more\n');
    const { commit: pushed } = await commitAndPush({
      dir,
      base,
      repo: bare,
      branch: 'refs/heads/drover/run-2',
      message: 'two',
      policy: LOCAL,
    });
    expect((await git(bare, 'rev-parse', 'refs/heads/drover/run-2')).trim()).toBe(pushed);
  });

  it('refuses a bad branch or a repo the policy does not allow', async () => {
    const dir = await emptyDir();
    const { commit } = await prepareWorkspace({ repo: bare, ref: 'main', dir, policy: LOCAL });
    const base = { dir, base: commit, repo: bare, message: 'm', policy: LOCAL };
    expect((await refusal(commitAndPush({ ...base, branch: 'HEAD' }))).field).toBe('push_branch');
    expect((await refusal(commitAndPush({ ...base, branch: 'refs/tags/x' }))).field).toBe(
      'push_branch',
    );
    const error = await refusal(commitAndPush({ ...base, branch: 'ok', policy: STRICT }));
    expect(error.message).toBe('repo: local paths are not allowed');
    await expect(git(bare, 'rev-parse', '--verify', '-q', 'refs/heads/ok')).rejects.toThrow();
  });
});
