import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { drainableServer } from './http-drain';

// A real HTTP server on loopback: the clients below are what Node's own close waits on.

const GRACE_MS = 500;

let server: Server;
let port: number;
const clients: Socket[] = [];

beforeEach(async () => {
  server = createServer((req, res) => {
    // Answers once the whole body has arrived, however late.
    req.resume();
    req.on('end', () => res.end('done'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
  server.closeAllConnections();
});

/** Connects and sends half a request line: never a complete request. */
function slowClient(): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write('GET / HT');
      resolve(socket);
    });
    socket.once('error', reject);
    clients.push(socket);
  });
}

describe('drainableServer', () => {
  it('closes slow clients once the grace has passed, after letting a request in flight finish', async () => {
    const drain = drainableServer(server);
    const slow = await Promise.all([slowClient(), slowClient(), slowClient()]);
    const slowClosed = slow.map((s) => new Promise((resolve) => s.once('close', resolve)));
    const inFlight = request({ host: '127.0.0.1', port, method: 'POST', path: '/' });
    const answered = new Promise<string>((resolve, reject) => {
      inFlight.once('response', (res: IncomingMessage) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.once('end', () => resolve(body));
      });
      inFlight.once('error', reject);
    });
    inFlight.write('half');
    // Its headers parsed, the request is in flight.
    await new Promise((resolve) => server.once('request', resolve));

    const startedAt = Date.now();
    const draining = drain.drain(GRACE_MS);
    inFlight.end(' and the rest');

    expect(await answered).toBe('done');
    expect(await draining).toBe(3);
    const took = Date.now() - startedAt;
    expect(took).toBeGreaterThanOrEqual(GRACE_MS - 20);
    expect(took).toBeLessThan(GRACE_MS + 1_000);
    await Promise.all(slowClosed);
    expect(server.listening).toBe(false);
  });

  it('returns as soon as the last connection is idle, closing none by force', async () => {
    const drain = drainableServer(server);
    // A keep-alive connection, idle after its answer.
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(await res.text()).toBe('done');

    const startedAt = Date.now();
    expect(await drain.drain(10_000)).toBe(0);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
  });

  it('closes at once a connection that never sent a byte (a browser preconnects spare ones)', async () => {
    const drain = drainableServer(server);
    const silent = await new Promise<Socket>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket));
      socket.once('error', reject);
      clients.push(socket);
    });
    const closed = new Promise((resolve) => silent.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));

    const startedAt = Date.now();
    expect(await drain.drain(5_000)).toBe(0);
    expect(Date.now() - startedAt).toBeLessThan(1_000);
    await closed;
  });
});
