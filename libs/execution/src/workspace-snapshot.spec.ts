import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
  link,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { testGit } from '@drover/testing';
import { SnapshotError } from './snapshot-errors';
import { snapshotHead } from './snapshot-head';
import { checkSnapshot, restoreWorkspace, snapshotWorkspace } from './workspace-snapshot';

const exec = promisify(execFile);

let root: string;
let canary: string;
let seq = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'drover-snapshot-'));
  canary = join(root, 'canary');
  await mkdir(canary);
  await writeFile(join(canary, 'keep.txt'), 'untouched\n');
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A new empty directory under the test's root. */
async function fresh(name: string): Promise<string> {
  const dir = join(root, `${name}-${++seq}`);
  await mkdir(dir);
  return dir;
}

/** Every entry under `dir`: path, type, executable bit, and content or link target. */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    const rel = path.slice(dir.length + 1);
    const info = await lstat(path);
    if (entry.isSymbolicLink()) out.push(`${rel} -> ${await readlink(path)}`);
    else if (entry.isDirectory()) out.push(`${rel}/`);
    else {
      const x = info.mode & 0o100 ? 'x' : '-';
      out.push(`${rel} ${x} ${(await readFile(path)).toString('base64')}`);
    }
  }
  return out.sort();
}

/** tar, run as a hostile runner would to build its snapshot; gzipped to `name` in the root. */
async function hostile(name: string, build: (tarFile: string) => Promise<void>): Promise<string> {
  const tarFile = join(root, `${name}.tar`);
  await build(tarFile);
  const file = join(root, `${name}.tar.gz`);
  await writeFile(file, gzipSync(await readFile(tarFile)));
  return file;
}

const tar = (...args: string[]) =>
  exec('tar', args, { env: { LC_ALL: 'C', PATH: '/usr/bin:/bin' } });

/** Restoring `file` is refused naming `entry`, and nothing is written anywhere. */
async function expectRefused(file: string, message: RegExp): Promise<void> {
  const target = await fresh('target');
  const before = await tree(canary);
  const refused = restoreWorkspace(file, target);
  await expect(refused).rejects.toThrow(SnapshotError);
  await expect(refused).rejects.toThrow(message);
  expect(await readdir(target)).toEqual([]);
  expect(await tree(canary)).toEqual(before);
}

describe('snapshotWorkspace and restoreWorkspace', () => {
  it('restores a workspace as it was: git repository, nested dirs, symlink, empty file, modes', async () => {
    const source = await fresh('source');
    const git = (...args: string[]) => testGit(root, source, ...args);
    await git('init', '-q', '-b', 'main');
    await mkdir(join(source, 'src/deep/er'), { recursive: true });
    await writeFile(join(source, 'src/deep/er/data.bin'), randomBytes(4096));
    await writeFile(join(source, 'run.sh'), '#!/bin/sh\necho hi\n');
    await chmod(join(source, 'run.sh'), 0o755);
    await git('add', '-A');
    await git('commit', '-q', '-m', 'first');
    const head = (await git('rev-parse', 'HEAD')).trim();
    // Work the run left uncommitted, and names a line-based listing would misread.
    await writeFile(join(source, 'empty'), '');
    await writeFile(join(source, 'a -> b'), 'not a link\n');
    await writeFile(join(source, 'new\nline "quoted" \\ café'), 'x');
    await symlink('src/deep', join(source, 'shortcut'));
    await symlink('../../run.sh', join(source, 'src/deep/run-link'));
    await mkdir(join(source, 'empty-dir'));

    const file = join(root, 'round-trip.tar.gz');
    const { size } = await snapshotWorkspace(source, file);
    expect(size).toBeGreaterThan(4096);
    const target = await fresh('target');
    const restored = await restoreWorkspace(file, target);

    expect(await tree(target)).toEqual(await tree(source));
    expect(await tree(target)).toEqual(
      expect.arrayContaining([
        'empty - ',
        'run.sh x IyEvYmluL3NoCmVjaG8gaGkK',
        'shortcut -> src/deep',
        'src/deep/run-link -> ../../run.sh',
        'empty-dir/',
        '.git/',
      ]),
    );
    expect(restored.bytes).toBeGreaterThan(4096);
    // The repository moves out of the workspace, to the run's git dir.
    const gitDir = `${target}-git`;
    expect(await snapshotHead(target, gitDir)).toBe(head);
    expect(await lstat(join(target, '.git')).catch(() => null)).toBeNull();
    expect(
      await testGit(
        root,
        target,
        `--git-dir=${gitDir}`,
        `--work-tree=${target}`,
        'status',
        '--porcelain',
      ),
    ).toContain('?? empty');
  });

  it('keeps hard-linked files as two separate files', async () => {
    const source = await fresh('source');
    await writeFile(join(source, 'one'), 'same\n');
    await link(join(source, 'one'), join(source, 'two'));
    const file = join(root, 'hardlinked.tar.gz');
    await snapshotWorkspace(source, file);
    const target = await fresh('target');
    await restoreWorkspace(file, target);
    expect(await tree(target)).toEqual(['one - c2FtZQo=', 'two - c2FtZQo=']);
    expect((await lstat(join(target, 'two'))).nlink).toBe(1);
  });
});

describe('checkSnapshot', () => {
  let staging: string;

  beforeAll(async () => {
    staging = await fresh('staging');
    await writeFile(join(staging, 'f'), 'payload\n');
  });

  it('refuses an entry with an absolute path', async () => {
    const file = await hostile('absolute', (out) =>
      tar('-cPf', out, '-C', staging, `--transform=s,^f$,${canary}/abs-file,`, 'f').then(),
    );
    await expectRefused(file, new RegExp(`entry "${canary}/abs-file" is an absolute path`));
  });

  it('refuses an entry with a ".." component', async () => {
    const file = await hostile('dotdot', (out) =>
      tar('-cf', out, '-C', staging, '--transform=s,^f$,sub/../../canary/dotdot-file,', 'f').then(),
    );
    await expectRefused(
      file,
      /entry "sub\/\.\.\/\.\.\/canary\/dotdot-file" has a "\.\." component/,
    );
  });

  it('refuses a symlink to / followed by an entry through it', async () => {
    const file = await hostile('escape', async (out) => {
      const first = await fresh('escape-link');
      await symlink('/', join(first, 'escape'));
      await tar('-cf', out, '-C', first, 'escape');
      const second = await fresh('escape-file');
      await mkdir(join(second, 'escape'));
      await writeFile(join(second, 'escape/etc-file'), 'pwned\n');
      await tar('-rf', out, '-C', second, 'escape/etc-file');
    });
    await expectRefused(file, /entry "escape" is a symlink to an absolute path \("\/"\)/);
  });

  it('refuses an entry through a symlink even when the symlink stays inside', async () => {
    const file = await hostile('through', async (out) => {
      const first = await fresh('through');
      await mkdir(join(first, 'sub'));
      await symlink('sub', join(first, 'inner'));
      await tar('-cf', out, '-C', first, 'sub', 'inner');
      await tar('-rf', out, '-C', staging, '--transform=s,^f$,inner/file,', 'f');
    });
    await expectRefused(file, /entry "inner\/file" goes through the symlink "inner"/);
  });

  it('refuses a hard link', async () => {
    const file = await hostile('hardlink', async (out) => {
      const dir = await fresh('hardlink');
      await writeFile(join(dir, 'a'), 'x');
      await link(join(dir, 'a'), join(dir, 'b'));
      await tar('-cf', out, '-C', dir, 'a', 'b');
    });
    await expectRefused(file, /entry "b" is a hard link \(to "a"\)/);
  });

  it.each([
    ['../../outside', 'up/climb'],
    ['..', 'parent'],
    ['loop', 'loop'],
  ])('refuses a symlink to %s', async (target, name) => {
    const file = await hostile(`symlink-${seq}`, async (out) => {
      const dir = await fresh('symlink');
      await mkdir(join(dir, 'up'));
      await symlink(target, join(dir, name));
      await tar('-cf', out, '-C', dir, name);
    });
    await expectRefused(
      file,
      new RegExp(
        `entry "${name}" is a symlink to "${target.replace(/\./g, '\\.')}", which leads outside`,
      ),
    );
  });

  it('refuses a symlink that climbs out through another symlink', async () => {
    const file = await hostile('chain', async (out) => {
      const dir = await fresh('chain');
      await mkdir(join(dir, 'd'));
      await symlink('..', join(dir, 'd/s')); // the root: fine on its own
      await symlink('d/s/..', join(dir, 'l')); // "d" by its text, the root's parent in fact
      await tar('-cf', out, '-C', dir, 'd', 'l');
    });
    await expectRefused(file, /entry "l" is a symlink to "d\/s\/\.\.", which leads outside/);
  });

  it('refuses a fifo and a device', async () => {
    const fifo = await hostile('fifo', async (out) => {
      const dir = await fresh('fifo');
      await exec('mkfifo', [join(dir, 'pipe')]);
      await tar('-cf', out, '-C', dir, 'pipe');
    });
    await expectRefused(fifo, /entry "pipe" is a fifo/);
    const device = await hostile('device', (out) => tar('-cf', out, '-C', '/dev', 'null').then());
    await expectRefused(device, /entry "null" is a device/);
  });

  it('refuses an entry that appears twice', async () => {
    const file = await hostile('twice', async (out) => {
      await tar('-cf', out, '-C', staging, 'f');
      await tar('-rf', out, '-C', staging, './f');
    });
    await expectRefused(file, /entry "\.\/f" appears twice/);
  });

  it('refuses more entries or more bytes than the limits', async () => {
    const dir = await fresh('many');
    for (const name of ['a', 'b', 'c']) await writeFile(join(dir, name), 'x'.repeat(100));
    const file = join(root, 'many.tar.gz');
    await snapshotWorkspace(dir, file);
    await expect(checkSnapshot(file)).resolves.toEqual({ entries: 4, bytes: 300 });
    await expect(checkSnapshot(file, { limits: { maxEntries: 3 } })).rejects.toThrow(
      'has more than 3 entries',
    );
    await expect(checkSnapshot(file, { limits: { maxBytes: 250 } })).rejects.toThrow(
      'unpacks to more than 250 bytes',
    );
  });

  it('refuses a file that is not a gzipped tar', async () => {
    const file = join(root, 'garbage.tar.gz');
    await writeFile(file, randomBytes(2048));
    await expectRefused(file, /incorrect header check|not in gzip format|unknown compression/i);
  });
});

describe('snapshotHead', () => {
  it('is null without .git, and refuses a .git that points at another repository', async () => {
    const plain = await fresh('plain');
    expect(await snapshotHead(plain, `${plain}-git`)).toBeNull();

    const borrowed = await fresh('borrowed');
    await mkdir(join(borrowed, '.git/objects/info'), { recursive: true });
    await writeFile(join(borrowed, '.git/objects/info/alternates'), '/elsewhere/objects\n');
    await expect(snapshotHead(borrowed, `${borrowed}-git`)).rejects.toThrow(
      "the snapshot's .git/objects/info/alternates is not allowed",
    );
  });

  it('refuses a .git holding a link, wherever it points', async () => {
    const linked = await fresh('linked');
    await testGit(root, linked, 'init', '-q');
    await symlink('../x', join(linked, '.git/refs/heads/main'));
    await expect(snapshotHead(linked, `${linked}-git`)).rejects.toThrow(
      "the snapshot's .git/refs/heads/main is not a plain file or directory",
    );
  });

  it('replaces the config before git reads it', async () => {
    const dir = await fresh('config');
    await testGit(root, dir, 'init', '-q');
    await writeFile(join(dir, 'x'), 'x');
    await testGit(root, dir, 'add', 'x');
    await testGit(root, dir, 'commit', '-q', '-m', 'x');
    const marker = join(root, 'fsmonitor-ran');
    await writeFile(
      join(dir, '.git/config'),
      `[core]\n\tfsmonitor = touch ${marker}\n[extensions]\n\tpartialClone = origin\n`,
    );
    expect(await snapshotHead(dir, `${dir}-git`)).toMatch(/^[0-9a-f]{40}$/);
    expect(await readFile(join(`${dir}-git`, 'config'), 'utf8')).not.toContain('fsmonitor');
    await expect(lstat(marker)).rejects.toThrow();
  });
});
