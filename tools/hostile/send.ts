// Sends cases: through node:http (keep-alive, paths sent as written), or as exact bytes
// on a socket for what node:http refuses to send (CR, LF or NUL in a header, say). Every
// case carries the suite's key unless it says otherwise (see `Wire`).
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import type { HttpRequest, Outcome, Wire } from './types';

/** How much of an answer's body is kept (error details name fields near the start). */
const KEEP_BYTES = 64 * 1024;
export const DEFAULT_TIMEOUT_MS = 20_000;

export class Sender {
  // A connection per request: a kept-alive one the server closes as a request goes out
  // on it would read as a reset, and every reset here must be the server's doing.
  private readonly agent = new Agent({ keepAlive: false, maxSockets: 16 });

  /** `key`: the API key sent as `Authorization: Bearer <key>` (see `Wire`). */
  constructor(
    private readonly target: URL,
    private readonly key: string,
  ) {}

  send(wire: Wire, timeoutMs = DEFAULT_TIMEOUT_MS): Promise<Outcome> {
    const authorization = wire.anonymous ? undefined : `Bearer ${this.key}`;
    if (wire.kind === 'raw')
      return this.raw(withAuthorization(wire.bytes, authorization), timeoutMs);
    const own = Object.keys(wire.request.headers).some((h) => h.toLowerCase() === 'authorization');
    const request: HttpRequest =
      own || !authorization
        ? wire.request
        : { ...wire.request, headers: { ...wire.request.headers, authorization } };
    try {
      return this.http(request, timeoutMs);
    } catch {
      // node:http refuses the path or a header (ERR_UNESCAPED_CHARACTERS, ERR_INVALID_CHAR).
      const { method, path, headers, body } = request;
      return this.raw(rawRequest(method, path, Object.entries(headers), body), timeoutMs);
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private http(req: HttpRequest, timeoutMs: number): Promise<Outcome> {
    const headers: Record<string, string> = { ...req.headers };
    if (req.body) headers['content-length'] = String(req.body.length);
    // Throws synchronously on what it will not send; `send` falls back to a raw socket.
    const outgoing = request({
      host: this.target.hostname,
      port: this.target.port,
      method: req.method,
      path: req.path,
      headers,
      agent: this.agent,
    });
    return new Promise((resolve) => {
      let answered = false;
      const timer = setTimeout(() => {
        outgoing.destroy(new Error(`no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      outgoing.on('response', (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        let kept = 0;
        res.on('data', (chunk: Buffer) => {
          if (kept < KEEP_BYTES) chunks.push(chunk);
          kept += chunk.length;
        });
        const done = () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
        };
        res.on('end', done);
        // The status line arrived: a body cut short afterwards still counts as the answer.
        res.on('error', done);
        res.on('aborted', done);
      });
      outgoing.on('error', (error: NodeJS.ErrnoException) => {
        if (answered) return;
        clearTimeout(timer);
        resolve({ failure: `${error.code ?? 'error'}: ${error.message}` });
      });
      outgoing.end(req.body);
    });
  }

  /** Writes `bytes`, reads until the answer is whole or the server closes. */
  private raw(bytes: Buffer, timeoutMs: number): Promise<Outcome> {
    return new Promise((resolve) => {
      const socket = connect(Number(this.target.port), this.target.hostname);
      let received = Buffer.alloc(0);
      let settled = false;
      const finish = (outcome: Outcome) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(outcome);
      };
      const timer = setTimeout(
        () => finish(answerIn(received) ?? { failure: `no answer within ${timeoutMs} ms` }),
        timeoutMs,
      );
      socket.on('data', (chunk: Buffer) => {
        received = Buffer.concat([received, chunk]);
        const answer = answerIn(received, true);
        if (answer) finish(answer);
      });
      socket.on('close', () =>
        finish(answerIn(received) ?? { failure: 'connection closed without an answer' }),
      );
      socket.on('error', (error: NodeJS.ErrnoException) => {
        if (!answerIn(received)) finish({ failure: `${error.code ?? 'error'}: ${error.message}` });
      });
      // Not end(): a half-closed client makes Node drop answers still being computed.
      socket.write(bytes);
    });
  }
}

/**
 * `bytes` (a request from `rawRequest`) with an `Authorization` header after its request
 * line, unless it has one already or `authorization` is undefined.
 */
function withAuthorization(bytes: Buffer, authorization: string | undefined): Buffer {
  const end = bytes.indexOf('\r\n\r\n');
  const head = bytes.subarray(0, end < 0 ? bytes.length : end).toString('latin1');
  const line = bytes.indexOf('\r\n');
  if (!authorization || line < 0 || /\r\nauthorization:/i.test(head)) return bytes;
  return Buffer.concat([
    bytes.subarray(0, line),
    Buffer.from(`\r\nAuthorization: ${authorization}`, 'latin1'),
    bytes.subarray(line),
  ]);
}

/**
 * The answer in `bytes`: its status and body. `whole` asks for a complete message
 * (by Content-Length or the last chunk); otherwise whatever arrived is the answer.
 */
function answerIn(bytes: Buffer, whole = false): Outcome | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const head = bytes.subarray(0, end).toString('latin1');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(head);
  if (!status) return { failure: `not an HTTP answer: ${JSON.stringify(head.slice(0, 40))}` };
  const body = bytes.subarray(end + 4);
  if (whole) {
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    const chunked = /\r\ntransfer-encoding: *chunked/i.test(head);
    if (length && body.length < Number(length[1])) return undefined;
    if (chunked && !body.subarray(-5).equals(Buffer.from('0\r\n\r\n'))) return undefined;
    if (!length && !chunked && !/\r\nconnection: *close/i.test(head)) return undefined;
  }
  return { status: Number(status[1]), body: body.subarray(0, KEEP_BYTES).toString('utf8') };
}

/** An HTTP/1.1 request as bytes; header values go out byte for byte (latin1), unchecked. */
export function rawRequest(
  method: string,
  path: string,
  headers: [string, string][],
  body?: Buffer,
): Buffer {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  if (body) {
    if (!headers.some(([n]) => n.toLowerCase() === 'content-type'))
      lines.push('Content-Type: application/json');
    lines.push(`Content-Length: ${body.length}`);
  }
  return Buffer.concat([
    Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'),
    body ?? Buffer.alloc(0),
  ]);
}
