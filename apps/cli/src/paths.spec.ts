import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from './errors';
import { expandPaths } from './paths';

describe(expandPaths.name, () => {
  let dir: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'drover-paths-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const touch = async (...names: string[]) => {
    for (const name of names) await writeFile(join(dir, name), '');
  };

  it('takes every ticket file directly in a directory, sorted by name, and nothing else', async () => {
    await touch('c.json', 'a.md', 'b.yml', 'd.markdown', 'e.YAML', 'notes.txt', 'README');
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'inner.md'), '');
    await mkdir(join(dir, 'looks-like.md'));
    expect(await expandPaths([dir])).toEqual(
      ['a.md', 'b.yml', 'c.json', 'd.markdown', 'e.YAML'].map((n) => join(dir, n)),
    );
  });

  it('keeps files in the order given, around a directory', async () => {
    await mkdir(join(dir, 'set'));
    await writeFile(join(dir, 'set', 'x.yaml'), '');
    await touch('z.md', 'y.json');
    expect(await expandPaths([join(dir, 'z.md'), join(dir, 'set'), join(dir, 'y.json')])).toEqual([
      join(dir, 'z.md'),
      join(dir, 'set', 'x.yaml'),
      join(dir, 'y.json'),
    ]);
  });

  it('refuses a directory without ticket files, naming it', async () => {
    await touch('notes.txt');
    await expect(expandPaths([dir])).rejects.toThrow(
      new UsageError(
        `${dir}: no ticket files (.md, .markdown, .yaml, .yml, .json) in this directory`,
      ),
    );
  });

  it('refuses a missing path and a file of another kind', async () => {
    await touch('notes.txt');
    await expect(expandPaths([join(dir, 'nope.md')])).rejects.toThrow(
      `${join(dir, 'nope.md')}: no such file or directory`,
    );
    await expect(expandPaths([join(dir, 'notes.txt')])).rejects.toThrow(UsageError);
  });
});
