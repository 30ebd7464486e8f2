import { useCallback, useEffect, useRef, useState } from 'react';
import type { StreamEvent } from '../api';
import { useEventHub } from './events-context';

/**
 * Applies one event to the state: returns the state it sets (the same object when
 * the event changes nothing), and calls `reload` when the event says more than it
 * can apply (a new run, say), so that the state is read again.
 */
export type LiveReducer<T> = (current: T, event: StreamEvent, reload: () => void) => T;

/**
 * Applies a batch of events (a frame's) at once, as `LiveReducer` applies one:
 * for state where one event at a time would copy a large value once per event.
 */
export interface BatchReducer<T> {
  batch: (current: T, events: readonly StreamEvent[], reload: () => void) => T;
}

export interface Live<T> {
  data: T | undefined;
  error: Error | undefined;
  reload: () => void;
}

/** The least time between two reads that events ask for (many events, one read). */
const RELOAD_EVERY_MS = 400;

/**
 * State read from the API and kept current by the event stream. It listens
 * before it reads, keeps the events that arrive during the read, and applies them
 * to what the read returned, in order: an event the read already reflects sets
 * the same value again, so nothing between the read and the stream is lost.
 * `reduce` must set values (never add to them) and call `reload` for events it
 * cannot apply; reloads are throttled. `key` names what is read: a new key reads
 * anew.
 */
export function useLive<T>(
  key: string,
  load: (signal: AbortSignal) => Promise<T>,
  reduce: LiveReducer<T> | BatchReducer<T>,
): Live<T> {
  const hub = useEventHub();
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<Error | undefined>(undefined);
  const loadRef = useRef(load);
  const reduceRef = useRef(reduce);
  loadRef.current = load;
  reduceRef.current = reduce;
  const reloadRef = useRef<() => void>(() => undefined);

  useEffect(() => {
    let buffer: StreamEvent[] | null = [];
    let controller: AbortController | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let lastRead = 0;
    let disposed = false;
    setData(undefined);
    setError(undefined);

    const apply = (current: T | undefined, events: readonly StreamEvent[]) => {
      const reducer = reduceRef.current;
      if (current === undefined || !events.length) return current;
      if ('batch' in reducer) return reducer.batch(current, events, requestReload);
      let next: T = current;
      for (const event of events) next = reducer(next, event, requestReload);
      return next;
    };

    const read = () => {
      controller?.abort();
      controller = new AbortController();
      const signal = controller.signal;
      buffer ??= [];
      lastRead = Date.now();
      loadRef.current(signal).then(
        (fresh) => {
          if (signal.aborted || disposed) return;
          const pending = buffer ?? [];
          buffer = null;
          setError(undefined);
          setData(apply(fresh, pending));
        },
        (failure: Error) => {
          if (signal.aborted || disposed) return;
          buffer = null;
          setError(failure);
        },
      );
    };

    function requestReload() {
      if (timer !== undefined || disposed) return;
      const wait = Math.max(0, lastRead + RELOAD_EVERY_MS - Date.now());
      timer = setTimeout(() => {
        timer = undefined;
        read();
      }, wait);
    }

    // One state update per batch (a frame's events), however many it holds.
    const unsubscribe = hub.subscribe((events) => {
      if (buffer) buffer.push(...events);
      else setData((current) => apply(current, events));
    });
    const unresync = hub.onResync(requestReload);
    reloadRef.current = requestReload;
    read();
    return () => {
      disposed = true;
      unsubscribe();
      unresync();
      controller?.abort();
      clearTimeout(timer);
    };
  }, [hub, key]);

  const reload = useCallback(() => reloadRef.current(), []);
  return { data, error, reload };
}
