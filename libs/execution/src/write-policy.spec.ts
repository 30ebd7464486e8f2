import { checkWritePolicy, describeBreaches } from './write-policy';
import type { WorkspaceChange } from './workspace';

const changed = (...paths: string[]): WorkspaceChange[] =>
  paths.map((path) => ({ path, status: 'modified' }));

describe(checkWritePolicy.name, () => {
  it('allows everything when the task sets no paths', () => {
    expect(checkWritePolicy(changed('a.txt', 'src/deep/x.ts', '.github/ci.yml'), {})).toEqual([]);
  });

  it('names changes outside allowed_paths, dot files included', () => {
    const breaches = checkWritePolicy(changed('src/a.ts', 'src/.env', 'README.md', '.github/x'), {
      allowed: ['src/**'],
    });
    expect(breaches).toEqual([
      { path: 'README.md', rule: 'outside allowed_paths' },
      { path: '.github/x', rule: 'outside allowed_paths' },
    ]);
  });

  it('lets forbidden_paths win over allowed_paths and names the glob', () => {
    const breaches = checkWritePolicy(changed('src/a.ts', 'src/secrets/key.pem'), {
      allowed: ['src/**'],
      forbidden: ['**/secrets/**', '*.lock'],
    });
    expect(breaches).toEqual([
      { path: 'src/secrets/key.pem', rule: 'forbidden by "**/secrets/**"' },
    ]);
  });

  it('checks both ends of a rename and counts deletions', () => {
    const changes: WorkspaceChange[] = [
      { path: 'src/moved.ts', status: 'renamed', from: 'config/prod.yml' },
      { path: 'config/other.yml', status: 'deleted' },
    ];
    expect(checkWritePolicy(changes, { forbidden: ['config/**'] }).map((b) => b.path)).toEqual([
      'config/prod.yml',
      'config/other.yml',
    ]);
  });

  it('never allows .git, whatever allowed_paths says', () => {
    expect(checkWritePolicy(changed('.git/config'), { allowed: ['**'] })).toEqual([
      { path: '.git/config', rule: 'forbidden by ".git/**"' },
    ]);
  });

  it('describes the first breaches and counts the rest', () => {
    const breaches = checkWritePolicy(changed(...Array.from({ length: 12 }, (_, i) => `f${i}`)), {
      allowed: ['src/**'],
    });
    expect(describeBreaches(breaches, 2)).toBe(
      'changes the task may not make: f0 (outside allowed_paths), f1 (outside allowed_paths), and 10 more',
    );
  });
});
