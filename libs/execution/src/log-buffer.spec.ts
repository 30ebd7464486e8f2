import type { LogLine } from '@drover/contracts';
import { LogBuffer, type FlushSink } from './log-buffer';

interface Batch {
  firstLine: number;
  texts: string[];
}

/** A sink that records batches; `fail` makes chosen calls (0-based) reject. */
function recordingSink(fail: (call: number) => boolean = () => false) {
  const batches: Batch[] = [];
  const lines: LogLine[] = [];
  let calls = 0;
  const sink: FlushSink = (firstLine, batch) => {
    const call = calls++;
    if (fail(call)) return Promise.reject(new Error(`sink failure ${call}`));
    batches.push({ firstLine, texts: batch.map((l) => l.text) });
    lines.push(...batch);
    return Promise.resolve();
  };
  return { sink, batches, lines, calls: () => calls };
}

const HOUR = 3_600_000;

describe(LogBuffer.name, () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('numbers lines consecutively across flushes', async () => {
    const { sink, batches } = recordingSink();
    const buffer = new LogBuffer(sink, HOUR);
    buffer.push('stdout', 'a');
    buffer.push('stdout', 'b');
    buffer.push('stderr', 'c');
    await buffer.flush();
    buffer.push('stdout', 'd');
    buffer.push('system', 'e');
    await buffer.flush();
    buffer.push('stdout', 'f');
    await buffer.flush();
    expect(batches).toEqual([
      { firstLine: 0, texts: ['a', 'b', 'c'] },
      { firstLine: 3, texts: ['d', 'e'] },
      { firstLine: 5, texts: ['f'] },
    ]);
    expect(buffer.lineCount).toBe(6);
  });

  it('keeps stream and timestamp of each line', async () => {
    const { sink, lines } = recordingSink();
    const buffer = new LogBuffer(sink, HOUR);
    const before = Date.now();
    buffer.push('stderr', 'oops');
    buffer.push('system', 'note');
    await buffer.flush();
    expect(lines.map((l) => l.stream)).toEqual(['stderr', 'system']);
    for (const line of lines) {
      expect(Date.parse(line.ts)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(line.ts)).toBeLessThanOrEqual(Date.now());
    }
  });

  it('flushes as soon as maxLines are waiting, without waiting for the timer', async () => {
    jest.useFakeTimers();
    const { sink, batches } = recordingSink();
    const buffer = new LogBuffer(sink, HOUR, 3);
    buffer.push('stdout', '1');
    buffer.push('stdout', '2');
    await jest.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([]);
    buffer.push('stdout', '3');
    buffer.push('stdout', '4');
    await jest.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([{ firstLine: 0, texts: ['1', '2', '3'] }]);
    expect(buffer.lineCount).toBe(4);
  });

  it('numbers the batches cut by maxLines consecutively', async () => {
    const { sink, batches } = recordingSink();
    const buffer = new LogBuffer(sink, HOUR, 2);
    for (const text of ['a', 'b', 'c', 'd', 'e']) buffer.push('stdout', text);
    await buffer.flush();
    expect(batches).toEqual([
      { firstLine: 0, texts: ['a', 'b'] },
      { firstLine: 2, texts: ['c', 'd'] },
      { firstLine: 4, texts: ['e'] },
    ]);
  });

  it('flushes flushMs after the first waiting line, not after the last', async () => {
    jest.useFakeTimers();
    const { sink, batches } = recordingSink();
    const buffer = new LogBuffer(sink, 100);
    buffer.push('stdout', 'first');
    await jest.advanceTimersByTimeAsync(60);
    buffer.push('stdout', 'second');
    await jest.advanceTimersByTimeAsync(39);
    expect(batches).toEqual([]);
    await jest.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([{ firstLine: 0, texts: ['first', 'second'] }]);
  });

  it('starts a new timer for lines that arrive after a flush', async () => {
    jest.useFakeTimers();
    const { sink, batches } = recordingSink();
    const buffer = new LogBuffer(sink, 100);
    buffer.push('stdout', 'a');
    await jest.advanceTimersByTimeAsync(100);
    buffer.push('stdout', 'b');
    await jest.advanceTimersByTimeAsync(99);
    expect(batches).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([
      { firstLine: 0, texts: ['a'] },
      { firstLine: 1, texts: ['b'] },
    ]);
  });

  it('sends nothing when nothing is waiting', async () => {
    jest.useFakeTimers();
    const { sink, calls } = recordingSink();
    const buffer = new LogBuffer(sink, 100);
    await buffer.flush();
    await jest.advanceTimersByTimeAsync(1_000);
    expect(calls()).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('does not leave a timer behind after an explicit flush', async () => {
    jest.useFakeTimers();
    const { sink, calls } = recordingSink();
    const buffer = new LogBuffer(sink, 100);
    buffer.push('stdout', 'a');
    expect(jest.getTimerCount()).toBe(1);
    await buffer.flush();
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(calls()).toBe(1);
  });

  it('keeps sending later batches after the sink fails, and flush still resolves', async () => {
    const { sink, batches, calls } = recordingSink((call) => call === 0 || call === 2);
    const buffer = new LogBuffer(sink, HOUR);
    for (const text of ['a', 'b', 'c', 'd']) {
      buffer.push('stdout', text);
      await expect(buffer.flush()).resolves.toBeUndefined();
    }
    expect(calls()).toBe(4);
    expect(batches).toEqual([
      { firstLine: 1, texts: ['b'] },
      { firstLine: 3, texts: ['d'] },
    ]);
  });

  it('survives a sink that throws synchronously', async () => {
    let calls = 0;
    const seen: number[] = [];
    const sink: FlushSink = (firstLine) => {
      calls++;
      if (calls === 1) throw new Error('sync failure');
      seen.push(firstLine);
      return Promise.resolve();
    };
    const buffer = new LogBuffer(sink, HOUR);
    buffer.push('stdout', 'a');
    await expect(buffer.flush()).resolves.toBeUndefined();
    buffer.push('stdout', 'b');
    await buffer.flush();
    expect(seen).toEqual([1]);
  });

  it('sends batches one at a time, in order', async () => {
    const started: number[] = [];
    const release: (() => void)[] = [];
    const sink: FlushSink = (firstLine) => {
      started.push(firstLine);
      return new Promise<void>((resolve) => release.push(resolve));
    };
    const buffer = new LogBuffer(sink, HOUR);
    buffer.push('stdout', 'a');
    void buffer.flush();
    buffer.push('stdout', 'b');
    const all = buffer.flush();
    await waitFor(() => started.length === 1);
    // The second batch must not start while the first is in flight.
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(started).toEqual([0]);
    release[0]();
    await waitFor(() => started.length === 2);
    expect(started).toEqual([0, 1]);
    release[1]();
    await expect(all).resolves.toBeUndefined();
  });

  it('truncates lines longer than maxLineLength and marks them', async () => {
    const { sink, batches } = recordingSink();
    const buffer = new LogBuffer(sink, HOUR, 500, 10);
    buffer.push('stdout', 'x'.repeat(10));
    buffer.push('stdout', `${'y'.repeat(10)}zzz`);
    await buffer.flush();
    expect(batches[0].texts).toEqual(['x'.repeat(10), `${'y'.repeat(10)}… [line truncated]`]);
  });

  it('truncates by default at 16 KiB', async () => {
    const { sink, batches } = recordingSink();
    const buffer = new LogBuffer(sink, HOUR);
    buffer.push('stdout', 'a'.repeat(100_000));
    await buffer.flush();
    const [text] = batches[0].texts;
    expect(text.startsWith('a'.repeat(16_384))).toBe(true);
    expect(text.slice(16_384)).toBe('… [line truncated]');
  });

  it('counts waiting lines in lineCount', () => {
    const { sink } = recordingSink();
    const buffer = new LogBuffer(sink, HOUR);
    expect(buffer.lineCount).toBe(0);
    buffer.push('stdout', 'a');
    buffer.push('stdout', 'b');
    expect(buffer.lineCount).toBe(2);
    void buffer.flush();
  });
});

/** Resolves once `condition` holds, checking after each turn of the event loop. */
async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}
