// The dashboard's one DroverClient: the page's origin, the signed-in key. Its
// errors become the ApiError the pages show.
import { DroverApiError, DroverClient, DroverNetworkError } from '@drover/client';
import { currentKey, forgetKey, onSessionChange } from './session';

/** An answer of the API that is not 2xx, in its error shape (`{ error: { code, message } }`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** The key was refused: the session ends, and the sign-in form says why. */
export const KEY_REFUSED =
  'The gateway refused the API key (it may be wrong, expired or revoked). Sign in again.';

// The client sends each request from inside the method called, before any await, so
// the signal set around that call is the one its fetch takes (see `call`).
let pendingSignal: AbortSignal | undefined;

const browserFetch: typeof fetch = (input, init) =>
  fetch(input, {
    ...init,
    headers: { accept: 'application/json', ...(init?.headers as Record<string, string>) },
    signal: pendingSignal,
    credentials: 'omit',
    cache: 'no-store',
  });

const clientFor = (apiKey: string | null) =>
  new DroverClient({
    baseUrl: window.location.origin,
    ...(apiKey ? { apiKey } : {}),
    fetch: browserFetch,
  });

let client = clientFor(currentKey());
onSessionChange(() => {
  client = clientFor(currentKey());
});

/** `error` as the pages show it; an abort stays an abort. */
function apiErrorOf(error: unknown): unknown {
  if (error instanceof DroverApiError) return new ApiError(error.status, error.code, error.message);
  if (error instanceof DroverNetworkError) {
    const cause = error.cause as Error | undefined;
    if (cause?.name === 'AbortError') return cause;
    return new ApiError(
      0,
      'UNREACHABLE',
      `the gateway could not be reached: ${cause?.message ?? error.message}`,
    );
  }
  return error;
}

/** Rejects with an AbortError once `signal` aborts, whatever `work` does. */
function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const aborted = () => reject(new DOMException('the request was aborted', 'AbortError'));
    if (signal.aborted) aborted();
    signal.addEventListener('abort', aborted, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', aborted));
  });
}

/**
 * Calls the API through the session's client (or, with `key`, a client of that key:
 * signing in checks a key before keeping it). A 401 to the session's key ends the session.
 */
export async function call<T>(
  send: (api: DroverClient) => Promise<T>,
  options: { signal?: AbortSignal; key?: string } = {},
): Promise<T> {
  const api = options.key === undefined ? client : clientFor(options.key);
  const signedIn = options.key === undefined && currentKey() !== null;
  pendingSignal = options.signal;
  let sent: Promise<T>;
  try {
    sent = send(api);
  } finally {
    pendingSignal = undefined;
  }
  try {
    return await abortable(sent, options.signal);
  } catch (error) {
    const shown = apiErrorOf(error);
    if (shown instanceof ApiError && shown.status === 401 && signedIn) forgetKey(KEY_REFUSED);
    throw shown;
  }
}

/** The event stream's WebSocket URL (`ws:`/`wss:` on this origin) for `token`, after `since`. */
export const eventsUrl = (token: string, since?: number): string =>
  client.eventsUrl({ token, ...(since === undefined ? {} : { since }) });
