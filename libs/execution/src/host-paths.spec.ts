import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hideHostPaths } from './host-paths';

describe('hideHostPaths', () => {
  const runDir = '/var/lib/drover/runs/run-1-abc';
  const paths = { runDir, workspace: `${runDir}/workspace`, gitDir: `${runDir}/git` };

  it('names workspace paths relative to the workspace and the git dir .git', () => {
    const text =
      `EACCES: permission denied, open '${runDir}/workspace/src/a.txt'; ` +
      `fatal: Unable to create '${runDir}/git/index.lock'; workspace ${runDir}/workspace; ` +
      `${runDir}/restore-workspace.tar.gz`;
    expect(hideHostPaths(text, paths)).toBe(
      "EACCES: permission denied, open 'src/a.txt'; fatal: Unable to create '.git/index.lock'; " +
        'workspace .; (run)/restore-workspace.tar.gz',
    );
  });

  it("hides git's temporary homes", () => {
    const home = join(tmpdir(), 'drover-git-home-x1Y2z3');
    expect(hideHostPaths(`warning: unable to access '${home}/.config/git'`, paths)).toBe(
      "warning: unable to access '(git home)/.config/git'",
    );
  });
});
