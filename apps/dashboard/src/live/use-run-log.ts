import { useEffect, useState } from 'react';
import { getRunLogs, type NumberedLine } from '../api';
import { mergeLines, numbered } from '../lib/log-lines';
import { useEventHub } from './events-context';

/** The most lines read back from the API; a longer log shows its last ones. */
const MAX_LINES = 20_000;
const PAGE = 1000;

export interface RunLog {
  lines: readonly NumberedLine[];
  /** Lines before the first one held that were not read (a log past MAX_LINES). */
  skipped: number;
  error: Error | undefined;
}

/**
 * A run's log: its stored lines read page by page, and the lines its
 * `log.appended` events bring, merged by line number, so a line read twice (a
 * page and an event, or a replay after a reconnection) is shown once.
 */
export function useRunLog(runId: string | undefined): RunLog {
  const hub = useEventHub();
  const [lines, setLines] = useState<readonly NumberedLine[]>([]);
  const [skipped, setSkipped] = useState(0);
  const [error, setError] = useState<Error | undefined>(undefined);

  useEffect(() => {
    setLines([]);
    setSkipped(0);
    setError(undefined);
    if (!runId) return undefined;
    const controller = new AbortController();
    const add = (incoming: readonly NumberedLine[]) =>
      setLines((current) => mergeLines(current, incoming));
    // Listening first: a line stored after a page was read comes as an event.
    const unsubscribe = hub.subscribe((events) => {
      const lines: NumberedLine[] = [];
      for (const event of events) {
        if (event.type !== 'log.appended' || event.data.runId !== runId) continue;
        lines.push(...numbered(event.data.firstLine, event.data.lines));
      }
      if (lines.length) add(lines);
    });
    const readFrom = async (start: number) => {
      let after: number | null = start;
      while (after !== null && !controller.signal.aborted) {
        const page = await getRunLogs(runId, after, controller.signal, PAGE);
        if (after === 0 && page.totalLines > MAX_LINES) {
          setSkipped(page.totalLines - MAX_LINES);
          after = page.totalLines - MAX_LINES;
          continue;
        }
        add(page.lines);
        after = page.nextAfter;
      }
    };
    const read = () =>
      readFrom(0).catch((failure: Error) => {
        if (!controller.signal.aborted) setError(failure);
      });
    void read();
    // A stream that could not resume may have missed lines: read them again.
    const unresync = hub.onResync(() => void read());
    return () => {
      controller.abort();
      unsubscribe();
      unresync();
    };
  }, [hub, runId]);

  return { lines, skipped, error };
}
