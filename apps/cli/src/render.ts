import { stripVTControlCharacters } from 'node:util';

/** Whether stdout is a terminal: live displays redraw in place only there. */
export const isTty = (): boolean => process.stdout.isTTY === true;
const tty = isTty() && !process.env.NO_COLOR;
const paint = (code: number) => (text: string) => (tty ? `\x1b[${code}m${text}\x1b[0m` : text);
export const dim = paint(2);
export const bold = paint(1);

export interface Output {
  json: boolean;
}

/** Prints `data` as JSON with --json, else the text for people. */
export function print(out: Output, human: string, data: unknown): void {
  process.stdout.write(out.json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
}

const STATUS_COLOURS: Record<string, (t: string) => string> = {
  SUCCEEDED: paint(32),
  FAILED: paint(31),
  TIMED_OUT: paint(31),
  BLOCKED: paint(33),
  CANCELLED: paint(33),
  RUNNING: paint(36),
  DISPATCHED: paint(36),
  READY: paint(34),
  STALE: paint(33),
  ONLINE: paint(32),
  OFFLINE: paint(2),
  SKIPPED: paint(2),
  RETRY_WAIT: paint(33),
  AWAITING_APPROVAL: paint(35),
  AWAITING_INPUT: paint(35),
};

export function status(value: string): string {
  return (STATUS_COLOURS[value] ?? ((t: string) => t))(value);
}

/** A plain text table; widths ignore colour codes. */
export function table(headers: string[], rows: string[][]): string {
  const visible = (s: string) => stripVTControlCharacters(s).length;
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => visible(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c + ' '.repeat(Math.max(0, widths[i] - visible(c))))
      .join('  ')
      .trimEnd();
  return [bold(line(headers)), ...rows.map(line)].join('\n');
}

/** A byte count for people: 512 B, 1.5 KiB, 3.2 MiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** A duration for people: 4.2s, 3m 05s, 1h 02m. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}
