// The API key of the signed-in person: in memory, and in this tab's
// sessionStorage so that a reload keeps it. Never localStorage (it would outlive
// the tab), never a URL or a cookie (it would travel where it should not).

const STORAGE_KEY = 'drover.apiKey';

type Listener = (reason: string | null) => void;

let key: string | null = readStored();
const listeners = new Set<Listener>();

function readStored(): string | null {
  try {
    return window.sessionStorage.getItem(STORAGE_KEY);
  } catch {
    // Storage refused (a privacy setting): the key lives in memory only.
    return null;
  }
}

/** The key requests are sent with, or null when signed out. */
export function currentKey(): string | null {
  return key;
}

/** Keeps `value` for this tab (called once `GET /me` accepted it). */
export function keepKey(value: string): void {
  key = value;
  try {
    window.sessionStorage.setItem(STORAGE_KEY, value);
  } catch {
    // memory only
  }
  for (const listener of listeners) listener(null);
}

/** Forgets the key; `reason` says why when it was not the person's choice. */
export function forgetKey(reason: string | null = null): void {
  key = null;
  try {
    window.sessionStorage.removeItem(STORAGE_KEY);
  } catch {
    // nothing kept
  }
  for (const listener of listeners) listener(reason);
}

/** Called on every sign-in and sign-out; returns the unsubscribe function. */
export function onSessionChange(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}
