import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import WebSocket from 'ws';
import { waitFor } from '@drover/testing';
import { freePort, useServices, type AppHandle, type ProcessExit } from './support/services';

// The gateway's SIGTERM, seen from outside: a second gateway process of the stack,
// with slow clients, a request in flight and an open event stream.

const GRACE_MS = 5_000;
/** What a loaded machine may add to the grace: closing NATS, Postgres, Redis and exiting. */
const SLACK_MS = 5_000;
const SLOW_CLIENTS = 20;

/** Resolves with `promise`, or fails naming `what` after `timeoutMs`. */
async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A client that sends half a request line and never the rest (slow headers). */
function slowClient(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** A POST whose headers the gateway has read (it answered 100 Continue), its body unsent. */
function requestInFlight(port: number, key: string): Promise<ClientRequest> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      method: 'POST',
      path: '/events/token',
      headers: {
        authorization: `Bearer ${key}`,
        'content-type': 'application/json',
        'content-length': '2',
        expect: '100-continue',
      },
    });
    req.once('continue', () => resolve(req));
    req.once('error', reject);
    req.flushHeaders();
  });
}

function responseOf(req: ClientRequest): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    req.once('response', (res: IncomingMessage) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', reject);
    });
    req.once('error', reject);
  });
}

describe('gateway shutdown', () => {
  const { services: stack, logged } = useServices({ runner: false });
  let gateway: AppHandle | undefined;
  const sockets: Socket[] = [];

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    if (gateway && !gateway.hasExited()) await stack().killApp(gateway);
    gateway = undefined;
  });

  it(
    'on SIGTERM lets a request in flight finish, closes event streams with 1001 and slow clients after the grace, and exits',
    logged(async () => {
      const port = await freePort();
      const started = stack().startApp('gateway', {
        GATEWAY_PORT: String(port),
        GATEWAY_SHUTDOWN_GRACE_MS: String(GRACE_MS),
      });
      gateway = started;
      await waitFor(
        async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok,
        'the second gateway to answer',
        30_000,
        100,
      );
      for (let i = 0; i < SLOW_CLIENTS; i++) sockets.push(await slowClient(port));
      const stream = new WebSocket(`ws://127.0.0.1:${port}/events`, {
        headers: { authorization: `Bearer ${stack().apiKey}` },
      });
      const closed = new Promise<number>((resolve) =>
        stream.once('close', (code) => resolve(code)),
      );
      await new Promise((resolve, reject) => stream.once('open', resolve).once('error', reject));
      const inFlight = await requestInFlight(port, stack().apiKey);
      const answered = responseOf(inFlight);
      const slowClosed = sockets.map((s) => new Promise((resolve) => s.once('close', resolve)));

      started.signal('SIGTERM');
      const sigtermAt = Date.now();
      // The body arrives after the SIGTERM: the request is answered all the same.
      inFlight.end('{}');

      const response = await within(answered, GRACE_MS, 'the request in flight to be answered');
      expect(response.status).toBe(201);
      expect(JSON.parse(response.body)).toHaveProperty('token');
      expect(await within(closed, GRACE_MS + SLACK_MS, 'the event stream to close')).toBe(1001);
      const exit: ProcessExit = await within(
        started.exit,
        GRACE_MS + SLACK_MS,
        'the gateway to exit after SIGTERM',
      );
      expect(exit).toEqual({ code: 0, signal: null });
      const took = Date.now() - sigtermAt;
      process.stdout.write(`gateway SIGTERM to exit: ${took} ms\n`);
      // The slow clients were given the whole grace, then closed.
      expect(took).toBeGreaterThanOrEqual(GRACE_MS - 100);
      await within(Promise.all(slowClosed), 1_000, 'the slow clients to be closed');
    }),
    120_000,
  );
});
