import { tmpdir } from 'node:os';

/** Where a run lives on the runner: its directory, the workspace in it, its git dir. */
export interface RunPaths {
  runDir: string;
  workspace: string;
  gitDir: string;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * `text` with the runner's own paths taken out: a user knows the workspace, not
 * where the runner keeps it. Paths in the workspace become relative to it, the
 * git dir `.git`, the rest of the run's directory and git's temporary homes a
 * placeholder.
 */
export function hideHostPaths(text: string, paths: RunPaths): string {
  return text
    .split(`${paths.gitDir}/`)
    .join('.git/')
    .split(paths.gitDir)
    .join('.git')
    .split(`${paths.workspace}/`)
    .join('')
    .split(paths.workspace)
    .join('.')
    .split(paths.runDir)
    .join('(run)')
    .replace(new RegExp(`${escape(tmpdir())}/drover-git-home-\\w+`, 'g'), '(git home)');
}
