import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { anthropic, countTokens } from './anthropic';
import { gemini } from './gemini';
import { modelList, openai } from './openai';
import type { Conversation, ProviderCodec, ProviderName } from './provider';
import { type ModelScript, ScriptPlayer, type ScriptPosition, SIDE_USAGE } from './script';
import { sendJson } from './sse';

/** What a request was to the server. */
export type RequestKind =
  /** A main-loop model call (it declares tools): it played a turn of the script. */
  | 'main'
  /** A model call without tools (titles, checks): answered "OK" without playing a turn. */
  | 'side'
  /** Token counting, model lists: answered, no model call. */
  | 'meta'
  /** Not a route the server knows: 404. */
  | 'unknown';

export interface RecordedRequest {
  readonly provider: ProviderName | null;
  readonly kind: RequestKind;
  readonly method: string;
  /** The path below the provider's base URL, e.g. `/v1/messages`. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** Lower-cased header names. */
  readonly headers: Readonly<Record<string, string>>;
  /** The key the CLI sent: `x-api-key`, `Authorization: Bearer`, `x-goog-api-key` or `?key=`. */
  readonly apiKey: string | null;
  /** The parsed JSON body (null when there was none or it was not JSON). */
  readonly body: unknown;
  /** The request read as a conversation (model calls only). */
  readonly conversation: Conversation | null;
  /** The script turn a main-loop request got. */
  readonly at: ScriptPosition | null;
  /** The HTTP status answered. */
  readonly status: number;
}

export interface ModelServer {
  /** `http://host:port`. */
  readonly url: string;
  /** What each CLI takes as its provider's base URL (ANTHROPIC_BASE_URL, OPENAI_BASE_URL, GOOGLE_GEMINI_BASE_URL). */
  readonly baseUrls: {
    readonly anthropic: string;
    readonly openai: string;
    readonly gemini: string;
  };
  /** Every request so far, in arrival order. */
  readonly requests: readonly RecordedRequest[];
  /** What went wrong on the server's side: an exhausted script, an unknown route. */
  readonly problems: readonly string[];
  /** Turns of the script not played yet (`sessions[s][t]`). */
  readonly remaining: () => string[];
  readonly close: () => Promise<void>;
}

export interface ModelServerOptions {
  readonly script: ModelScript;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: any free port. */
  readonly port?: number;
}

const CODECS: Record<ProviderName, ProviderCodec> = { anthropic, openai, gemini };

/**
 * A scripted model provider for the real agent CLIs: the Anthropic Messages API under
 * `/anthropic`, the OpenAI Responses API under `/openai/v1` and the Gemini API under
 * `/gemini`, each close enough to the real one for Claude Code, Codex, Gemini CLI and
 * opencode to work through it. Main-loop calls play the script turn by turn.
 */
export async function startModelServer(options: ModelServerOptions): Promise<ModelServer> {
  const player = new ScriptPlayer(options.script);
  const requests: RecordedRequest[] = [];
  const problems: string[] = [];
  let ids = 0;
  const nextId = (prefix: string) => `${prefix}scripted${String(++ids).padStart(6, '0')}`;

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://model-server');
    const raw = await readBody(req);
    const body = parseJson(raw);
    const route = routeOf(req.method ?? 'GET', url.pathname);
    const record = (fields: Partial<RecordedRequest> & { status: number }) =>
      requests.push({
        provider: route.provider,
        kind: 'unknown',
        method: req.method ?? 'GET',
        path: route.path,
        query: Object.fromEntries(url.searchParams),
        headers: headersOf(req),
        apiKey: apiKeyOf(req, url),
        body,
        conversation: null,
        at: null,
        ...fields,
      });

    if (route.provider === null || route.action === 'unknown') {
      problems.push(`unknown route ${req.method} ${url.pathname}`);
      record({ status: 404 });
      return sendJson(res, 404, { error: { message: `no route ${req.method} ${url.pathname}` } });
    }
    if (route.action === 'websocket') {
      // The Responses API over WebSocket is not spoken here: 426 tells Codex to use HTTP.
      record({ kind: 'meta', status: 426 });
      return sendJson(res, 426, { error: { message: 'use HTTP: no WebSocket here' } });
    }
    if (route.action === 'meta') {
      record({ kind: 'meta', status: 200 });
      return sendJson(res, 200, metaAnswer(route, body));
    }
    const codec = CODECS[route.provider];
    const conversation: Conversation = {
      ...codec.read(body),
      ...(route.provider === 'gemini' ? { model: route.model, stream: route.stream } : {}),
    };
    if (conversation.toolNames.length === 0) {
      record({ kind: 'side', conversation, status: 200 });
      const text = codec.sideText(conversation, body);
      return codec.send(
        res,
        { kind: 'reply', text, toolCalls: [], usage: SIDE_USAGE },
        conversation,
        nextId,
      );
    }
    const played = player.next(conversation.first);
    if ('exhausted' in played) {
      problems.push(played.exhausted);
      record({ kind: 'main', conversation, status: 500 });
      const answer = { kind: 'error', status: 500, message: played.exhausted } as const;
      return codec.send(res, { ...answer, retryAfterSeconds: null }, conversation, nextId);
    }
    const status = played.answer.kind === 'error' ? played.answer.status : 200;
    record({ kind: 'main', conversation, at: played.at, status });
    codec.send(res, played.answer, conversation, nextId);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      problems.push(`handler failed: ${String(error)}`);
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(error) } });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = urlHost(options.host ?? '127.0.0.1');
  const url = `http://${host}:${port}`;
  return {
    url,
    baseUrls: {
      anthropic: `${url}/anthropic`,
      openai: `${url}/openai/v1`,
      gemini: `${url}/gemini`,
    },
    requests,
    problems,
    remaining: () => player.remaining(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

interface Route {
  readonly provider: ProviderName | null;
  readonly action: 'model' | 'meta' | 'websocket' | 'unknown';
  /** The path below the provider prefix. */
  readonly path: string;
  readonly model: string | null;
  readonly stream: boolean;
}

const PREFIXES: [string, ProviderName][] = [
  ['/anthropic', 'anthropic'],
  ['/openai', 'openai'],
  ['/gemini', 'gemini'],
];

function routeOf(method: string, pathname: string): Route {
  const prefix = PREFIXES.find(([p]) => pathname === p || pathname.startsWith(`${p}/`));
  const none = { model: null, stream: false };
  if (prefix === undefined) return { provider: null, action: 'unknown', path: pathname, ...none };
  const [root, provider] = prefix;
  const path = pathname.slice(root.length) || '/';
  const at = (action: Route['action'], extra: Partial<Route> = {}): Route => ({
    provider,
    action,
    path,
    ...none,
    ...extra,
  });
  if (provider === 'anthropic') {
    if (method === 'POST' && path === '/v1/messages') return at('model');
    if (method === 'POST' && path === '/v1/messages/count_tokens') return at('meta');
    if (method === 'GET' && path.startsWith('/v1/models')) return at('meta');
    // Claude Code's connectivity check.
    if (method === 'HEAD') return at('meta');
  }
  if (provider === 'openai') {
    if (method === 'POST' && path === '/v1/responses') return at('model');
    if (method === 'GET' && path === '/v1/responses') return at('websocket');
    if (method === 'GET' && path.startsWith('/v1/models')) return at('meta');
  }
  if (provider === 'gemini') {
    const match = /^\/v1(?:beta|alpha)?\/models\/([^/:]+):(\w+)$/.exec(path);
    if (method === 'POST' && match) {
      const [, model = '', verb = ''] = match;
      if (verb === 'generateContent') return at('model', { model });
      if (verb === 'streamGenerateContent') return at('model', { model, stream: true });
      if (verb === 'countTokens') return at('meta', { model });
    }
    if (method === 'GET' && /^\/v1(?:beta|alpha)?\/models/.test(path)) return at('meta');
  }
  return at('unknown');
}

function metaAnswer(route: Route, body: unknown): unknown {
  if (route.path === '/api/hello') return {};
  if (route.path.endsWith('count_tokens')) return countTokens(body);
  if (route.model !== null) return { totalTokens: countTokens(body).input_tokens };
  if (route.provider === 'gemini') return { models: [] };
  if (route.provider === 'openai') return modelList([]);
  return { data: [], has_more: false, first_id: null, last_id: null };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function headersOf(req: IncomingMessage): Record<string, string> {
  return Object.fromEntries(
    Object.entries(req.headers).map(([name, value]) => [
      name,
      Array.isArray(value) ? value.join(', ') : (value ?? ''),
    ]),
  );
}

function apiKeyOf(req: IncomingMessage, url: URL): string | null {
  const header = (name: string) => {
    const value = req.headers[name];
    return typeof value === 'string' ? value : null;
  };
  const bearer = /^Bearer\s+(.+)$/i.exec(header('authorization') ?? '')?.[1];
  return (
    header('x-api-key') ?? header('x-goog-api-key') ?? bearer ?? url.searchParams.get('key') ?? null
  );
}

/** A host for a URL: an unspecified bind address is reached on loopback; IPv6 in brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
