import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import type Docker from 'dockerode';
import { TaskSpec, type ArtifactInfo, type LogLine, type RunDispatched } from '@drover/contracts';
import { LocalArtifactStore } from '@drover/storage';
import { sandboxTestImage, testGit } from '@drover/testing';
import { DockerDriver, dockerClient } from './docker-driver';
import { ProcessDriver } from './process-driver';
import { RunExecutor, type RunReporter } from './run-executor';
import type { SandboxDriver } from './sandbox-driver';

// What an agent leaves in the workspace's .git (or a nested .git) must not make
// the runner's git write or read the runner's host: runs for real in the
// container engine, each planting links to the host paths under `victim`.

const RUNNER = `escape-${randomUUID().slice(0, 8)}`;

let root: string;
let source: string;
let victim: string;
let docker: Docker;
let driver: DockerDriver;
let store: LocalArtifactStore;

class Reports implements RunReporter {
  lines: LogLine[] = [];
  artifacts: ArtifactInfo[] = [];
  log(_work: RunDispatched, _first: number, lines: LogLine[]): Promise<void> {
    this.lines.push(...lines);
    return Promise.resolve();
  }
  artifact(_work: RunDispatched, artifact: ArtifactInfo): Promise<void> {
    this.artifacts.push(artifact);
    return Promise.resolve();
  }
  finished(): Promise<void> {
    return Promise.resolve();
  }
}

const git = (cwd: string, ...args: string[]) => testGit(root, cwd, ...args);
const exec = promisify(execFile);

beforeAll(async () => {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  const image = sandboxTestImage();
  if (!host || !image) throw new Error('no container engine or sandbox image for these tests');
  docker = dockerClient(host);
  driver = new DockerDriver({
    docker,
    image,
    runnerId: RUNNER,
    user: '1000:1000',
    limits: { memoryBytes: 256 * 2 ** 20, nanoCpus: 1e9, pids: 64, tmpfsBytes: 16 * 2 ** 20 },
    killGraceMs: 1_000,
  });
  root = await mkdtemp(join(tmpdir(), 'drover-escape-'));
  store = new LocalArtifactStore(join(root, 'artifacts'));
  source = join(root, 'source');
  await mkdir(join(source, 'src'), { recursive: true });
  await git(source, 'init', '-q', '-b', 'main');
  await writeFile(join(source, 'src/answer.txt'), 'answer=0\n');
  await git(source, 'add', '-A');
  await git(source, 'commit', '-q', '-m', 'initial');
  // The runner's host: a file, a directory and a repository an agent must not reach.
  victim = join(root, 'victim');
  await mkdir(join(victim, 'dir'), { recursive: true });
  await writeFile(join(victim, 'file'), 'the host file\n');
  await writeFile(join(victim, 'dir', 'kept'), 'kept\n');
  await mkdir(join(victim, 'repo'));
  await git(join(victim, 'repo'), 'init', '-q', '-b', 'main');
  await writeFile(join(victim, 'repo', 'secret.txt'), 'secret\n');
  await git(join(victim, 'repo'), 'add', '-A');
  await git(join(victim, 'repo'), 'commit', '-q', '-m', 'host repository');
}, 60_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

afterEach(async () => {
  await DockerDriver.reap(docker, RUNNER);
});

/** Every entry under `dir` with its type, size, mtime and content: what must not change. */
async function state(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of (await readdir(dir, { recursive: true })).sort()) {
    const path = join(dir, name);
    const info = await lstat(path);
    const content = info.isFile() ? await readFile(path, 'utf8') : '';
    out.push(`${name} ${info.mode} ${info.size} ${info.mtimeMs} ${JSON.stringify(content)}`);
  }
  return out;
}

function work(run: string, spec: Partial<TaskSpec> = {}): RunDispatched {
  return {
    runId: randomUUID(),
    taskId: randomUUID(),
    ticketId: randomUUID(),
    attempt: 1,
    leaseToken: randomUUID(),
    agent: 'command',
    spec: TaskSpec.parse({ repo: source, steps: [{ run }], ...spec }),
    timeoutMs: 120_000,
  };
}

async function execute(dispatched: RunDispatched, sandbox: SandboxDriver = driver) {
  const reports = new Reports();
  const executor = new RunExecutor({
    workdir: join(root, 'runs'),
    driver: sandbox,
    reporter: reports,
    artifacts: store,
    sources: { allowLocal: true, allowPrivateHosts: false },
    providerEnv: {},
    gitTimeoutMs: 60_000,
    logFlushMs: 20,
    keepWorkspaces: false,
  });
  const outcome = await executor.execute(dispatched, new AbortController().signal);
  return { outcome, reports };
}

async function artifact(runId: string, name: string): Promise<string> {
  const { body } = await store.get(runId, name);
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString();
}

/** A file content whose blob id starts with two hex digits no object of `source` starts with. */
async function freshBlob(): Promise<{ text: string; prefix: string }> {
  const used = new Set(
    (await git(source, 'rev-list', '--objects', '--all'))
      .split('\n')
      .filter(Boolean)
      .map((line) => line.slice(0, 2)),
  );
  for (let n = 0; ; n++) {
    const text = `new file ${n}\n`;
    await writeFile(join(root, 'blob'), text);
    const id = (await git(root, 'hash-object', join(root, 'blob'))).trim();
    if (!used.has(id.slice(0, 2))) return { text, prefix: id.slice(0, 2) };
  }
}

describe('RunExecutor with links an agent plants in .git', () => {
  const tricks: [string, () => Promise<string>][] = [
    [
      '.git/COMMIT_EDITMSG -> a host file',
      () => Promise.resolve(`rm -f .git/COMMIT_EDITMSG; ln -s ${victim}/file .git/COMMIT_EDITMSG`),
    ],
    [
      '.git/logs/HEAD -> a host file',
      () =>
        Promise.resolve(
          `mkdir -p .git/logs; rm -f .git/logs/HEAD; ln -s ${victim}/file .git/logs/HEAD`,
        ),
    ],
    [
      '.git/logs -> a host directory',
      () => Promise.resolve(`rm -rf .git/logs; ln -s ${victim}/dir .git/logs`),
    ],
    [
      '.git/objects/<the new blob> -> a host directory',
      async () => {
        const { text, prefix } = await freshBlob();
        return `printf '${text.trim()}\\n' > new.txt; rm -rf .git/objects/${prefix}; ln -s ${victim}/dir .git/objects/${prefix}`;
      },
    ],
  ];

  it.each(tricks)(
    'changes nothing on the host for %s, and still diffs and pushes',
    async (_, plant) => {
      const before = await state(victim);
      const branch = `drover/escape-${randomUUID().slice(0, 8)}`;
      const step = `echo answer=42 > src/answer.txt\n${await plant()}`;
      const dispatched = work(step, { push_branch: branch });
      const { outcome } = await execute(dispatched);

      expect(await state(victim)).toEqual(before);
      expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', errorClass: null });
      expect(await artifact(dispatched.runId, 'diff.patch')).toMatch(/-answer=0\n\+answer=42/);
      expect(await git(source, 'show', `${branch}:src/answer.txt`)).toBe('answer=42\n');
    },
    120_000,
  );

  it('diffs a nested .git (a gitdir: file or a link to a host repository) as plain files', async () => {
    const before = await state(victim);
    const hostHead = (await git(join(victim, 'repo'), 'rev-parse', 'HEAD')).trim();
    const dispatched = work(
      [
        `mkdir -p sub other && echo plain > sub/file && echo other > other/file`,
        `echo "gitdir: ${victim}/repo/.git" > sub/.git`,
        `ln -s ${victim}/repo/.git other/.git`,
      ].join('\n'),
      { push_branch: 'drover/nested' },
    );
    const { outcome, reports } = await execute(dispatched);

    expect(await state(victim)).toEqual(before);
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED' });
    expect(outcome.result).toMatchObject({
      filesChanged: [
        { path: 'other/file', status: 'added' },
        { path: 'sub/file', status: 'added' },
      ],
    });
    const diff = await artifact(dispatched.runId, 'diff.patch');
    expect(diff).not.toContain(hostHead);
    expect(diff).not.toContain('Subproject commit');
    expect(await git(source, 'show', 'drover/nested:sub/file')).toBe('plain\n');
    expect(reports.lines.map((l) => l.text)).toContain(
      'removed nested .git from the workspace: other/.git, sub/.git',
    );
  }, 120_000);

  it("keeps the runner's repository in the snapshot for workspace_from, not the agent's .git", async () => {
    const before = await state(victim);
    const original = (await git(source, 'rev-parse', 'main')).trim();
    const first = work(
      [
        'echo answer=42 > src/answer.txt',
        `rm -f .git/COMMIT_EDITMSG; ln -s ${victim}/file .git/COMMIT_EDITMSG`,
        'echo 0000000000000000000000000000000000000000 > .git/HEAD',
      ].join('\n'),
      { keep_workspace: true },
    );
    expect((await execute(first)).outcome).toMatchObject({ outcome: 'SUCCEEDED' });

    const second = work('echo more >> src/answer.txt', {
      workspace_run: first.runId,
      push_branch: 'drover/escape-inherited',
    });
    const { outcome } = await execute(second);
    expect(await state(victim)).toEqual(before);
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', result: { baseCommit: original } });
    expect(await git(source, 'show', 'drover/escape-inherited:src/answer.txt')).toBe(
      'answer=42\nmore\n',
    );
  }, 120_000);
});

describe('RunExecutor with a workspace git cannot record', () => {
  it("ignores the sandbox's own .git, even one replaced by a file", async () => {
    const dispatched = work('echo answer=42 > src/answer.txt; rm -rf .git; echo nonsense > .git', {
      push_branch: 'drover/no-git',
    });
    const { outcome } = await execute(dispatched);
    expect(outcome.errorMessage ?? '').not.toContain(root);
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', errorClass: null });
    expect(await git(source, 'show', 'drover/no-git:src/answer.txt')).toBe('answer=42\n');
  }, 120_000);

  it('ends AGENT_FAILED, naming the path in the workspace only, when git refuses a file the agent made', async () => {
    const dispatched = work("mkdir 'GIT~1' && echo x > 'GIT~1/x'");
    const { outcome } = await execute(dispatched);
    expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'AGENT_FAILED' });
    expect(outcome.errorMessage).toMatch(
      /^git cannot record the workspace: .*invalid path 'GIT~1\/x'/,
    );
    expect(outcome.errorMessage).not.toContain(root);
    expect(outcome.errorMessage).not.toContain(tmpdir());
  }, 120_000);
});

describe('RunExecutor error messages', () => {
  it('end INVALID_SPEC for a push from a workspace that holds no commit', async () => {
    const first = work('echo made > made.txt', { keep_workspace: true });
    first.spec = { ...first.spec, repo: undefined };
    expect((await execute(first)).outcome).toMatchObject({ outcome: 'SUCCEEDED' });
    const second = work('echo more >> made.txt', {
      workspace_run: first.runId,
      push_branch: 'drover/no-commit',
    });
    const { outcome } = await execute(second);
    expect(outcome).toMatchObject({
      outcome: 'FAILED',
      errorClass: 'INVALID_SPEC',
      errorMessage: 'push_branch: the workspace it starts from holds no commit',
    });
  }, 60_000);

  it("name the run's repository .git, not where the runner keeps it", async () => {
    // An upstream snapshot whose repository has a corrupt commit: git names the object's file.
    const upstream = randomUUID();
    const build = join(root, `corrupt-${upstream}`);
    await mkdir(build);
    await git(build, 'init', '-q');
    await writeFile(join(build, 'a.txt'), 'a\n');
    await git(build, 'add', '-A');
    await git(build, 'commit', '-q', '-m', 'a');
    const head = (await git(build, 'rev-parse', 'HEAD')).trim();
    const object = join(build, '.git/objects', head.slice(0, 2), head.slice(2));
    await rm(object, { force: true });
    await writeFile(object, 'not a git object\n');
    const tar = join(root, `corrupt-${upstream}.tar`);
    await exec('tar', ['-cf', tar, '-C', build, '.']);
    await store.put(
      upstream,
      'workspace.tar.gz',
      gzipSync(await readFile(tar)),
      'application/gzip',
    );

    const { outcome } = await execute(work('echo never here', { workspace_run: upstream }));
    expect(outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'INFRA' });
    expect(outcome.errorMessage).toBe(
      `the workspace of run ${upstream} could not be restored: reading the snapshot's HEAD failed: ` +
        `fatal: loose object ${head} (stored in .git/objects/${head.slice(0, 2)}/${head.slice(2)}) is corrupt`,
    );
    expect(outcome.errorMessage).not.toContain(root);
  }, 60_000);
});

describe('RunExecutor with the process driver (not isolated)', () => {
  it("gives the agent a .git of its own and pushes the workspace's changes", async () => {
    const dispatched = work(
      'git status --porcelain && echo answer=42 > src/answer.txt && git diff --stat',
      { push_branch: 'drover/process' },
    );
    const { outcome, reports } = await execute(dispatched, new ProcessDriver());
    expect(outcome).toMatchObject({ outcome: 'SUCCEEDED', errorClass: null });
    expect(reports.lines.map((l) => l.text)).toContain(' src/answer.txt | 2 +-');
    expect(await git(source, 'show', 'drover/process:src/answer.txt')).toBe('answer=42\n');
  }, 60_000);
});
