import { isTransientTxError, retryTransient } from './transient-errors';

const deadlock = new Error('Raw query failed. Code: `40P01`. Message: `deadlock detected`');

describe(retryTransient.name, () => {
  it('runs a transaction again after a deadlock, and returns what the retry returns', async () => {
    let calls = 0;
    const result = await retryTransient(() => {
      calls++;
      return calls < 3 ? Promise.reject(deadlock) : Promise.resolve('written');
    });
    expect(result).toBe('written');
    expect(calls).toBe(3);
  });

  it('gives up after the attempts allowed, and never retries other errors', async () => {
    let calls = 0;
    await expect(
      retryTransient(() => {
        calls++;
        return Promise.reject(deadlock);
      }, 2),
    ).rejects.toThrow('deadlock detected');
    expect(calls).toBe(2);
    await expect(retryTransient(() => Promise.reject(new Error('no such table')))).rejects.toThrow(
      'no such table',
    );
    expect(isTransientTxError(new Error('could not serialize access'))).toBe(true);
    expect(isTransientTxError(new Error('unique constraint'))).toBe(false);
  });
});
