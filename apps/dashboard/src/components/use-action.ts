import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError } from '../api';

export interface Notice {
  kind: 'ok' | 'error';
  text: string;
}

/** What the person reads when an action was refused: the API's own message, and why. */
export function refusalText(error: unknown): string {
  if (!(error instanceof ApiError)) return `Failed: ${(error as Error).message}`;
  switch (error.status) {
    case 0:
      return error.message;
    case 403:
      return `Your key's role may not do this (403 ${error.code}): ${error.message}`;
    case 409:
      return `Nothing changed (409 ${error.code}): ${error.message}`;
    default:
      return `Refused (${error.status} ${error.code}): ${error.message}`;
  }
}

export interface Action {
  /** Runs `act` unless one is under way; its result text (or the refusal) becomes the notice. */
  run: (act: () => Promise<string>) => Promise<boolean>;
  busy: boolean;
  notice: Notice | null;
  clear: () => void;
}

/** One action at a time, with what came of the last one. */
export function useAction(): Action {
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<Notice | null>(null);
  const mounted = useRef(true);
  const running = useRef(false);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  const run = useCallback(async (act: () => Promise<string>) => {
    if (running.current) return false;
    running.current = true;
    setBusy(true);
    setNotice(null);
    try {
      const text = await act();
      if (mounted.current) setNotice({ kind: 'ok', text });
      return true;
    } catch (error) {
      if (mounted.current) setNotice({ kind: 'error', text: refusalText(error) });
      return false;
    } finally {
      running.current = false;
      if (mounted.current) setBusy(false);
    }
  }, []);
  const clear = useCallback(() => setNotice(null), []);
  return { run, busy, notice, clear };
}
