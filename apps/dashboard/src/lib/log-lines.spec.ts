import type { NumberedLine } from '../api';
import { mergeLines, missingLines, numbered } from './log-lines';

const line = (n: number, text = `line ${n}`): NumberedLine => ({
  n,
  text,
  stream: 'stdout',
  ts: '2026-01-01T00:00:00.000Z',
});
const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => line(from + i));

describe(mergeLines.name, () => {
  it('appends lines that follow the last one', () => {
    expect(mergeLines(range(0, 2), range(3, 5)).map((l) => l.n)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('keeps each line number once when a page and an event (or a replay) overlap', () => {
    const merged = mergeLines(range(0, 4), [...range(3, 6), line(4, 'again')]);
    expect(merged.map((l) => l.n)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(merged[4].text).toBe('line 4');
  });

  it('puts lines that arrive before earlier ones in order', () => {
    const events = mergeLines([], range(10, 12));
    expect(mergeLines(events, range(0, 11)).map((l) => l.n)).toEqual(range(0, 12).map((l) => l.n));
  });

  it('returns the same array when nothing is new', () => {
    const lines = range(0, 3);
    expect(mergeLines(lines, range(1, 2))).toBe(lines);
    expect(mergeLines(lines, [])).toBe(lines);
  });
});

describe(numbered.name, () => {
  it("numbers an event's lines from its first line", () => {
    const lines = numbered(7, [
      { stream: 'stdout', text: 'a', ts: '2026-01-01T00:00:00.000Z' },
      { stream: 'stderr', text: 'b', ts: '2026-01-01T00:00:00.000Z' },
    ]);
    expect(lines.map((l) => [l.n, l.text])).toEqual([
      [7, 'a'],
      [8, 'b'],
    ]);
  });
});

describe(missingLines.name, () => {
  it('counts the numbers missing between the first and the last line held', () => {
    expect(missingLines([])).toBe(0);
    expect(missingLines(range(0, 9))).toBe(0);
    expect(missingLines([...range(0, 2), ...range(6, 7)])).toBe(3);
  });
});
