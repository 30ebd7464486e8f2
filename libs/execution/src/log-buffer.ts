import type { LogLine, LogStream } from '@drover/contracts';

export type FlushSink = (firstLine: number, lines: LogLine[]) => Promise<void>;

/**
 * Collects a run's output lines and hands them on in numbered batches: when
 * `maxLines` are waiting or `flushMs` after the first waiting line. Batches are
 * sent one at a time, in order.
 */
export class LogBuffer {
  private pending: LogLine[] = [];
  private next = 0;
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly sink: FlushSink,
    private readonly flushMs: number,
    private readonly maxLines = 500,
    private readonly maxLineLength = 16_384,
  ) {}

  push(stream: LogStream, text: string): void {
    const clipped =
      text.length > this.maxLineLength
        ? `${text.slice(0, this.maxLineLength)}… [line truncated]`
        : text;
    this.pending.push({ stream, text: clipped, ts: new Date().toISOString() });
    if (this.pending.length >= this.maxLines) void this.flush();
    else this.timer ??= setTimeout(() => void this.flush(), this.flushMs);
  }

  /** Sends what is waiting; resolves when every batch so far has been sent. */
  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.pending.length) {
      const lines = this.pending;
      const first = this.next;
      this.pending = [];
      this.next += lines.length;
      // A failed batch must not stop later ones; the sink reports its own failures.
      this.chain = this.chain.then(() => this.sink(first, lines)).catch(() => undefined);
    }
    return this.chain;
  }

  get lineCount(): number {
    return this.next + this.pending.length;
  }
}
