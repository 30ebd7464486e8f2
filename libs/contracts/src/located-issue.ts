/** Problems in a document, each where its author would look for it. */

/**
 * A problem in a work order or ticket document. `path` is the field as the
 * author wrote it (`env.CI`, `tasks.1.steps.0.run`), `body` for a work order's
 * Markdown body, and empty when the problem is the document itself (syntax,
 * size). `line` and `column` are 1-based in the whole file.
 */
export interface LocatedIssue {
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/** A step of a field's path: a mapping key or a list index. */
export type Segment = string | number;
export interface Position {
  line: number;
  column: number;
}

export const FIRST_LINE: Position = { line: 1, column: 1 };

/** A key as a message shows it: quoted, escaped (a NUL shows as \u0000), and not too long. */
export function quote(key: string): string {
  return JSON.stringify(key.length > 64 ? `${key.slice(0, 64)}...` : key);
}

export function issue(
  path: readonly Segment[] | string,
  message: string,
  at?: Position,
): LocatedIssue {
  return { path: typeof path === 'string' ? path : path.join('.'), message, ...at };
}

/** Every issue once, by line (zod reports a work order's title for the ticket and its task). */
export function failed(issues: readonly LocatedIssue[]): { ok: false; issues: LocatedIssue[] } {
  const seen = new Set<string>();
  const unique = issues.filter((i) => {
    const id = JSON.stringify([i.path, i.message, i.line, i.column]);
    return !seen.has(id) && Boolean(seen.add(id));
  });
  unique.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { ok: false, issues: unique };
}
