/**
 * Gathers items submitted around the same time and processes them together:
 * one batch in flight at a time, up to `maxBatch` items each; whatever arrives
 * meanwhile forms the next batch. If a batch fails, its items are retried one
 * by one so a single bad item fails alone.
 */
export class Batcher<T, R> {
  private queue: { item: T; resolve: (r: R) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;

  constructor(
    private readonly processBatch: (items: T[]) => Promise<R[]>,
    private readonly processOne: (item: T) => Promise<R>,
    private readonly maxBatch: number,
  ) {}

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      // Let the other items of this tick join before the batch starts.
      if (!this.flushing) setImmediate(() => void this.flush());
    });
  }

  get pending(): number {
    return this.queue.length;
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          const results = await this.processBatch(batch.map((b) => b.item));
          batch.forEach((b, i) => b.resolve(results[i]));
        } catch {
          for (const b of batch) await this.processOne(b.item).then(b.resolve, b.reject);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
