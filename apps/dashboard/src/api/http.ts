import { currentKey, forgetKey } from './session';

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

export interface RequestOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  signal?: AbortSignal;
  /** Send this key instead of the session's (signing in checks a key before keeping it). */
  key?: string;
}

function urlOf(path: string, query: RequestOptions['query']): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query ?? {})) {
    if (value !== undefined) params.set(name, String(value));
  }
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

async function send(method: string, path: string, options: RequestOptions): Promise<Response> {
  const key = options.key ?? currentKey();
  const headers: Record<string, string> = { accept: 'application/json' };
  if (key) headers.authorization = `Bearer ${key}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(urlOf(path, options.query), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch (error) {
    if ((error as Error).name === 'AbortError') throw error;
    throw new ApiError(
      0,
      'UNREACHABLE',
      `the gateway could not be reached: ${(error as Error).message}`,
    );
  }
  if (res.ok) return res;
  const text = await res.text();
  let code = `HTTP_${res.status}`;
  let message = text.slice(0, 500) || res.statusText;
  try {
    const body = JSON.parse(text) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? code;
    message = body.error?.message ?? message;
  } catch {
    // not the API's shape: keep the text
  }
  // A key the session holds that stops working (revoked, expired) signs the person out.
  if (res.status === 401 && options.key === undefined && key) forgetKey(KEY_REFUSED);
  throw new ApiError(res.status, code, message);
}

/** A JSON request to the gateway (same origin) with the session's key. */
export async function requestJson<T>(
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<T> {
  const res = await send(method, path, options);
  return (await res.json()) as T;
}

/** A request whose answer is read as text (a diff). */
export async function requestText(path: string, options: RequestOptions = {}): Promise<string> {
  return (await send('GET', path, options)).text();
}

/** A request whose answer is read as bytes (an artifact to save). */
export async function requestBlob(path: string, options: RequestOptions = {}): Promise<Blob> {
  return (await send('GET', path, options)).blob();
}
