import type { LogLine, NumberedLine } from '../api';

/** The lines of a `log.appended` event, numbered from its first line. */
export function numbered(firstLine: number, lines: readonly LogLine[]): NumberedLine[] {
  return lines.map((line, i) => ({ ...line, n: firstLine + i }));
}

/**
 * `incoming` merged into `lines` (both sorted by `n`): each line number once,
 * in order, whichever way it came (a page read, an event, a replay after a
 * reconnection). Returns `lines` itself when nothing is new.
 */
export function mergeLines(
  lines: readonly NumberedLine[],
  incoming: readonly NumberedLine[],
): readonly NumberedLine[] {
  if (!incoming.length) return lines;
  const last = lines.length ? lines[lines.length - 1].n : -1;
  // The common case, lines that follow the last one: appended without a search.
  if (incoming[0].n > last && isSorted(incoming)) return [...lines, ...incoming];
  const byNumber = new Map<number, NumberedLine>();
  for (const line of lines) byNumber.set(line.n, line);
  let added = false;
  for (const line of incoming) {
    if (byNumber.has(line.n)) continue;
    byNumber.set(line.n, line);
    added = true;
  }
  if (!added) return lines;
  return [...byNumber.values()].sort((a, b) => a.n - b.n);
}

function isSorted(lines: readonly NumberedLine[]): boolean {
  for (let i = 1; i < lines.length; i++) if (lines[i].n <= lines[i - 1].n) return false;
  return true;
}

/** Line numbers missing between the first and the last line held (lost lines, or not read yet). */
export function missingLines(lines: readonly NumberedLine[]): number {
  if (!lines.length) return 0;
  return lines[lines.length - 1].n - lines[0].n + 1 - lines.length;
}
