import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EgressProxy,
  MAX_DENIED_TARGETS,
  OTHER_TARGETS,
  type EgressProxyOptions,
} from './egress-proxy';
import { rulesOf, urlRule } from './egress-rules';

// The runner side of egress alone, on the host: what the proxy lets through and
// refuses, and why, with a fake resolver (no DNS here).

let dir: string;
let upstream: Server;
let port: number;
const proxies: EgressProxy[] = [];

beforeAll(async () => {
  upstream = createServer((req, res) => res.end(`upstream saw ${req.headers.host}${req.url}`));
  await new Promise<void>((done) => upstream.listen(0, '127.0.0.1', done));
  port = (upstream.address() as AddressInfo).port;
});

afterAll(() => upstream.close());

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-proxy-'));
});

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await rm(dir, { recursive: true, force: true });
});

async function start(options: Partial<EgressProxyOptions> & Pick<EgressProxyOptions, 'rules'>) {
  const proxy = await EgressProxy.listen(join(dir, 'egress.sock'), {
    allowPrivate: false,
    lookup: (host) =>
      host === 'model.example' ? Promise.resolve(['127.0.0.1']) : Promise.reject(new Error('nx')),
    ...options,
  });
  proxies.push(proxy);
  return proxy;
}

/** CONNECT `target` through the proxy at `socketPath`: the status, and the tunnel when it opened. */
function connect(socketPath: string, target: string): Promise<{ status: number; socket: Socket }> {
  return new Promise((done, fail) => {
    request({ socketPath, method: 'CONNECT', path: target })
      .on('connect', (res, socket) => done({ status: res.statusCode ?? 0, socket }))
      .on('error', fail)
      .end();
  });
}

/** One GET over an open tunnel: the body. */
function getOver(socket: Socket): Promise<string> {
  return new Promise((done) => {
    let text = '';
    socket.write('GET /v1 HTTP/1.1\r\nhost: model.example\r\nconnection: close\r\n\r\n');
    socket.on('data', (chunk: Buffer) => (text += chunk.toString()));
    socket.on('end', () => done(text.split('\r\n\r\n')[1] ?? ''));
  });
}

function send(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((done, fail) => {
    request({ socketPath, path }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => done({ status: res.statusCode ?? 0, body }));
    })
      .on('error', fail)
      .end();
  });
}

describe(EgressProxy.name, () => {
  it("refuses a task's entry on a private address unless the runner allows them; a configured endpoint may be", async () => {
    const own = await start({ rules: rulesOf([`127.0.0.1:${port}`]) });
    expect((await connect(own.socketPath, `127.0.0.1:${port}`)).status).toBe(403);
    expect(own.denied()).toEqual([
      { target: `127.0.0.1:${port}`, count: 1, reason: '127.0.0.1 is a loopback address' },
    ]);
    await own.close();

    const configured = await start({ rules: [urlRule(`http://127.0.0.1:${port}`)] });
    const tunnel = await connect(configured.socketPath, `127.0.0.1:${port}`);
    expect(tunnel.status).toBe(200);
    expect(await getOver(tunnel.socket)).toBe('upstream saw model.example/v1');
  });

  it('resolves names itself and checks every address it got', async () => {
    const denied: string[] = [];
    const strict = await start({
      rules: rulesOf([`model.example:${port}`, 'gone.example']),
      onDenied: (method, target, reason) => denied.push(`${method} ${target} (${reason})`),
    });
    expect((await connect(strict.socketPath, `model.example:${port}`)).status).toBe(403);
    expect((await connect(strict.socketPath, 'gone.example:443')).status).toBe(403);
    expect(denied).toEqual([
      `CONNECT model.example:${port} (127.0.0.1 is a loopback address)`,
      'CONNECT gone.example:443 (does not resolve)',
    ]);
    await strict.close();

    const open = await start({ rules: rulesOf([`model.example:${port}`]), allowPrivate: true });
    const tunnel = await connect(open.socketPath, `MODEL.example:${port}`);
    expect(tunnel.status).toBe(200);
    expect(await getOver(tunnel.socket)).toBe('upstream saw model.example/v1');
    expect(open.denied()).toEqual([]);
  });

  it('forwards absolute http:// requests and refuses other request forms', async () => {
    const proxy = await start({ rules: rulesOf([`127.0.0.1:${port}`]), allowPrivate: true });
    expect(await send(proxy.socketPath, `http://127.0.0.1:${port}/x?y=1`)).toEqual({
      status: 200,
      body: `upstream saw 127.0.0.1:${port}/x?y=1`,
    });
    expect((await send(proxy.socketPath, '/x')).status).toBe(400);
    expect((await send(proxy.socketPath, `https://127.0.0.1:${port}/`)).status).toBe(400);
    expect((await send(proxy.socketPath, `http://127.0.0.1:${port + 1}/`)).status).toBe(403);
    expect((await connect(proxy.socketPath, 'no-port.example')).status).toBe(400);
  });

  it('cuts open tunnels and removes its socket when closed', async () => {
    const proxy = await start({ rules: rulesOf([`127.0.0.1:${port}`]), allowPrivate: true });
    const tunnel = await connect(proxy.socketPath, `127.0.0.1:${port}`);
    const closed = new Promise((done) => tunnel.socket.once('close', done));
    await proxy.close();
    await closed;
    expect(existsSync(proxy.socketPath)).toBe(false);
  });

  it('listens at a path too long for a socket address, where it was asked to', async () => {
    const deep = join(dir, 'd'.repeat(120));
    await mkdir(deep);
    const proxy = await EgressProxy.listen(join(deep, 'egress.sock'), {
      rules: rulesOf([`127.0.0.1:${port}`]),
      allowPrivate: true,
    });
    proxies.push(proxy);
    expect(existsSync(join(deep, 'egress.sock'))).toBe(true);
    // Clients (the container) reach it by a short path: here, a link to its directory.
    await symlink(deep, join(dir, 'short'));
    const tunnel = await connect(join(dir, 'short', 'egress.sock'), `127.0.0.1:${port}`);
    expect(tunnel.status).toBe(200);
    tunnel.socket.destroy();
  });

  it('keeps what it says of refusals bounded, whatever the sandbox asks for', async () => {
    const logged: string[] = [];
    const proxy = await start({
      rules: rulesOf(['model.example']),
      onDenied: (_method, target) => logged.push(target),
    });
    // One very long name, then more distinct destinations than are named: the agent picks them.
    expect((await connect(proxy.socketPath, `${'a'.repeat(5_000)}:443`)).status).toBe(403);
    for (let i = 0; i < MAX_DENIED_TARGETS + 50; i++) {
      expect((await connect(proxy.socketPath, `host-${i}.example:443`)).status).toBe(403);
    }

    const denied = proxy.denied();
    expect(denied).toHaveLength(MAX_DENIED_TARGETS + 1);
    expect(denied.find((d) => d.target === OTHER_TARGETS)).toMatchObject({ count: 51 });
    expect(logged).toHaveLength(MAX_DENIED_TARGETS);
    expect(Math.max(...denied.map((d) => d.target.length))).toBeLessThanOrEqual(260);
  });
});
