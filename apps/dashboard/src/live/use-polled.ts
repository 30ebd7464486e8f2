import { useEffect, useState } from 'react';

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
}

/**
 * Reads `load` now and every `everyMs` (and when `key` changes), for what no
 * event announces (heartbeats, other projects' work). The last good value stays
 * shown beside a failure.
 */
export function usePolled<T>(
  key: string,
  load: (signal: AbortSignal) => Promise<T>,
  everyMs: number,
): Polled<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  useEffect(() => {
    let controller: AbortController | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let disposed = false;
    const read = () => {
      controller = new AbortController();
      const signal = controller.signal;
      load(signal)
        .then(
          (fresh) => {
            if (disposed) return;
            setData(fresh);
            setError(undefined);
          },
          (failure: Error) => {
            if (!disposed && !signal.aborted) setError(failure);
          },
        )
        .finally(() => {
          if (!disposed) timer = setTimeout(read, everyMs);
        });
    };
    read();
    return () => {
      disposed = true;
      controller?.abort();
      clearTimeout(timer);
    };
    // `load` is taken anew when `key` changes: callers name what it reads in `key`.
  }, [key, everyMs]);
  return { data, error };
}
