import { stripVTControlCharacters } from 'node:util';

const UP = (n: number) => `\x1b[${n}A`;
const CLEAR_LINE = '\x1b[2K';
const CLEAR_BELOW = '\x1b[J';

/** Cuts a line to `columns` visible characters, so no line wraps (which would break the redraw). */
export function fit(line: string, columns: number): string {
  const plain = stripVTControlCharacters(line);
  if (plain.length <= columns) return line;
  // Colour codes cannot be cut safely: a cut line loses its colours.
  return `${plain.slice(0, Math.max(0, columns - 1))}…`;
}

/**
 * At most `rows - 1` lines: the cursor cannot move up past the top of the
 * screen, so a taller frame could not be redrawn in place.
 */
export function clip(lines: readonly string[], rows: number): readonly string[] {
  const room = Math.max(2, rows - 1);
  if (lines.length <= room) return lines;
  return [...lines.slice(0, room - 1), `… and ${lines.length - room + 1} more lines`];
}

/**
 * What to write to replace the `drawn` lines written last (the cursor is below
 * them) with `lines`: back up, overwrite each line, clear what is left below.
 */
export function redraw(drawn: number, lines: readonly string[], columns: number): string {
  const back = drawn > 0 ? `${UP(drawn)}\r` : '';
  return `${back}${lines.map((l) => `${CLEAR_LINE}${fit(l, columns)}\n`).join('')}${CLEAR_BELOW}`;
}

/**
 * A block of lines at the bottom of a terminal, redrawn in place at most once
 * every `intervalMs` however often it is updated.
 */
export class LiveRegion {
  private drawn = 0;
  private lastDraw = 0;
  private pending: readonly string[] | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stdout,
    private readonly intervalMs = 200,
  ) {}

  update(lines: readonly string[]): void {
    this.pending = lines;
    if (this.timer) return;
    const wait = this.lastDraw + this.intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else this.timer = setTimeout(() => this.flush(), wait);
  }

  /** Draws what is pending now; the lines stay on screen. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.pending) return;
    const lines = clip(this.pending, this.out.rows || 24);
    this.out.write(redraw(this.drawn, lines, this.out.columns || 80));
    this.drawn = lines.length;
    this.pending = undefined;
    this.lastDraw = Date.now();
  }

  /** Removes the region from the screen (for a final summary in its place). */
  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.pending = undefined;
    if (this.drawn) this.out.write(`${UP(this.drawn)}\r${CLEAR_BELOW}`);
    this.drawn = 0;
  }
}
