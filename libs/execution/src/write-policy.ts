import picomatch from 'picomatch';
import type { WorkspaceChange } from './workspace';

export interface WritePolicy {
  /** Globs a change must match one of; every path when left out. */
  allowed?: readonly string[];
  /** Globs no change may match; wins over `allowed`. */
  forbidden?: readonly string[];
}

export interface PolicyBreach {
  path: string;
  rule: 'outside allowed_paths' | `forbidden by "${string}"`;
}

/** `.git` is never the agent's to change, whatever the task allows. */
const ALWAYS_FORBIDDEN = ['.git', '.git/**'];

/**
 * The changed paths `policy` does not allow, each with the rule it breaks. A
 * rename counts at both its old and its new path; deleting a file is a change
 * to it. Globs match dot files too (`**` covers `.github/`).
 */
export function checkWritePolicy(
  changes: readonly WorkspaceChange[],
  policy: WritePolicy,
): PolicyBreach[] {
  const options = { dot: true };
  const forbidden = [...ALWAYS_FORBIDDEN, ...(policy.forbidden ?? [])].map((glob) => ({
    glob,
    match: picomatch(glob, options),
  }));
  const allowed = policy.allowed ? picomatch([...policy.allowed], options) : () => true;
  const breaches: PolicyBreach[] = [];
  const paths = changes.flatMap((c) => (c.from ? [c.from, c.path] : [c.path]));
  for (const path of [...new Set(paths)]) {
    const rule = forbidden.find((f) => f.match(path));
    if (rule) breaches.push({ path, rule: `forbidden by "${rule.glob}"` });
    else if (!allowed(path)) breaches.push({ path, rule: 'outside allowed_paths' });
  }
  return breaches;
}

/** One line naming the first few breaches, for the run's error message. */
export function describeBreaches(breaches: readonly PolicyBreach[], shown = 10): string {
  const listed = breaches.slice(0, shown).map((b) => `${b.path} (${b.rule})`);
  const more = breaches.length > shown ? `, and ${breaches.length - shown} more` : '';
  return `changes the task may not make: ${listed.join(', ')}${more}`;
}
