import { Batcher } from './batcher';

describe(Batcher.name, () => {
  it('processes items submitted together as one batch, in order', async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>(
      (items) => {
        batches.push(items);
        return Promise.resolve(items.map((i) => i * 10));
      },
      (i) => Promise.resolve(i),
      100,
    );
    const results = await Promise.all([1, 2, 3].map((i) => batcher.submit(i)));
    expect(results).toEqual([10, 20, 30]);
    expect(batches).toEqual([[1, 2, 3]]);
  });

  it('never runs two batches at once and caps their size', async () => {
    let inFlight = 0;
    let most = 0;
    const sizes: number[] = [];
    const batcher = new Batcher<number, number>(
      async (items) => {
        inFlight++;
        most = Math.max(most, inFlight);
        sizes.push(items.length);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        return items;
      },
      (i) => Promise.resolve(i),
      4,
    );
    const all = Array.from({ length: 10 }, (_, i) => batcher.submit(i));
    expect(await Promise.all(all)).toEqual([...Array(10).keys()]);
    expect(most).toBe(1);
    expect(sizes).toEqual([4, 4, 2]);
    expect(batcher.pending).toBe(0);
  });

  it('retries a failed batch item by item, so only the bad item fails', async () => {
    const batcher = new Batcher<number, string>(
      () => Promise.reject(new Error('batch failed')),
      (i) => (i === 2 ? Promise.reject(new Error(`item ${i} is bad`)) : Promise.resolve(`ok ${i}`)),
      10,
    );
    const results = await Promise.allSettled([1, 2, 3].map((i) => batcher.submit(i)));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : String(r.reason)))).toEqual([
      'ok 1',
      'Error: item 2 is bad',
      'ok 3',
    ]);
  });
});
