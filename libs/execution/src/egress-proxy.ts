import { chmod, open, rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import {
  createServer,
  request,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { addressKind, defaultLookup, type HostLookup } from './repo-source';
import {
  connectTarget,
  matchRule,
  requestTarget,
  targetText,
  type EgressRule,
  type EgressTarget,
} from './egress-rules';

export interface EgressProxyOptions {
  rules: readonly EgressRule[];
  /** Let a task's own entries reach private, loopback and link-local addresses (RUNNER_ALLOW_PRIVATE_HOSTS). */
  allowPrivate: boolean;
  /** Resolves names; the proxy connects to the addresses it checked (no rebinding). */
  lookup?: HostLookup;
  /** Called once per target on its first refusal, for the run's log. */
  onDenied?: (method: string, target: string, reason: string) => void;
  /** Gives up on an upstream connection after this long; default 10 s. */
  connectTimeoutMs?: number;
}

/** A refused destination, as a run's result.json counts it. */
export interface DeniedTarget {
  target: string;
  count: number;
  reason: string;
}

/** Most connections through one run's proxy at once. */
const MAX_CONNECTIONS = 256;
/**
 * Most refused destinations named one by one (in the log and result.json): the sandbox
 * picks them, so beyond this they are counted together under OTHER_TARGETS.
 */
export const MAX_DENIED_TARGETS = 100;
export const OTHER_TARGETS = '(other destinations)';
/** The longest destination named; a longer one (up to a header's size) is cut. */
const MAX_TARGET_CHARS = 255;

class Refusal extends Error {}

/**
 * One run's egress proxy: an HTTP proxy on a unix socket in the run's own
 * directory (the sandbox reaches it through a mount, and nothing else). It
 * tunnels CONNECT and forwards absolute http:// requests to destinations its
 * rules allow, resolving names itself, and refuses everything else with 403,
 * counting each refused destination.
 */
export class EgressProxy {
  private readonly sockets = new Set<Duplex>();
  private readonly deniedTargets = new Map<string, DeniedTarget>();
  private closed = false;

  private constructor(
    private readonly server: Server,
    readonly socketPath: string,
    private readonly options: EgressProxyOptions,
  ) {}

  /** Listens on `socketPath`, which any user may connect to (the sandbox's user is not the runner's). */
  static async listen(socketPath: string, options: EgressProxyOptions): Promise<EgressProxy> {
    const server = createServer();
    const proxy = new EgressProxy(server, socketPath, options);
    server.maxConnections = MAX_CONNECTIONS;
    server.on('connection', (socket: Socket) => proxy.track(socket));
    server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void proxy.tunnel(req, socket, head);
    });
    server.on(
      'request',
      (req: IncomingMessage, res: ServerResponse) => void proxy.forward(req, res),
    );
    await rm(socketPath, { force: true });
    await bindSocket(server, socketPath);
    try {
      await chmod(socketPath, 0o666);
    } catch (error) {
      await proxy.close();
      throw error;
    }
    return proxy;
  }

  /** Refused destinations, most refused first. */
  denied(): DeniedTarget[] {
    return [...this.deniedTargets.values()].sort((a, b) => b.count - a.count);
  }

  /** Stops listening, cuts every open connection and removes the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing = new Promise<void>((done) => this.server.close(() => done()));
    for (const socket of this.sockets) socket.destroy();
    this.server.closeAllConnections();
    await closing;
    await rm(this.socketPath, { force: true });
  }

  private track(socket: Duplex): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    // A peer that vanishes mid-stream is its own business; it must not crash the runner.
    socket.on('error', () => socket.destroy());
  }

  private async tunnel(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    const target = connectTarget(req.url ?? '');
    if (!target) {
      this.deny('CONNECT', req.url ?? '', 'not a host:port');
      return void client.end(statusLine(400, 'a CONNECT names host:port'));
    }
    let upstream: Socket;
    try {
      upstream = await this.open(target, 'CONNECT');
    } catch (error) {
      return void client.end(refusalResponse(error));
    }
    if (client.destroyed) return void upstream.destroy();
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
    const end = () => {
      upstream.destroy();
      client.destroy();
    };
    upstream.once('close', end);
    client.once('close', end);
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = requestTarget(req.url ?? '');
    if (!target) {
      res.writeHead(400, { 'content-type': 'text/plain' });
      return void res.end('egress proxy: CONNECT host:port, or an absolute http:// URL\n');
    }
    let upstream: Socket;
    try {
      upstream = await this.open(target, req.method ?? 'GET');
    } catch (error) {
      res.writeHead(error instanceof Refusal ? 403 : 502, { 'content-type': 'text/plain' });
      return void res.end(`egress proxy: ${(error as Error).message}\n`);
    }
    const url = new URL(req.url as string);
    const headers = { ...req.headers };
    delete headers['proxy-connection'];
    delete headers['proxy-authorization'];
    const out = request(
      {
        method: req.method,
        path: `${url.pathname}${url.search}`,
        headers: { ...headers, host: url.host, connection: 'close' },
        createConnection: () => upstream,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(out);
  }

  /**
   * A connection to `target`, when a rule allows it and its addresses may be
   * reached; otherwise throws a Refusal, counted and logged.
   */
  private async open(target: EgressTarget, method: string): Promise<Socket> {
    const rule = matchRule(this.options.rules, target);
    if (!rule) throw this.deny(method, targetText(target), 'not allowed');
    let addresses: string[];
    try {
      addresses = isIP(target.host)
        ? [target.host]
        : await (this.options.lookup ?? defaultLookup)(target.host);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0) throw this.deny(method, targetText(target), 'does not resolve');
    if (!rule.trusted && !this.options.allowPrivate) {
      for (const address of addresses) {
        const kind = addressKind(address);
        if (kind) throw this.deny(method, targetText(target), `${address} is ${kind}`);
      }
    }
    return this.connectAny(addresses, target.port);
  }

  /** The first of `addresses` that answers on `port`. */
  private async connectAny(addresses: readonly string[], port: number): Promise<Socket> {
    let last: Error = new Error('no address');
    for (const host of addresses) {
      try {
        return await this.connectTo(host, port);
      } catch (error) {
        last = error as Error;
      }
    }
    throw new Error(`could not connect: ${last.message}`);
  }

  private connectTo(host: string, port: number): Promise<Socket> {
    return new Promise((done, fail) => {
      const socket = connect({ host, port });
      this.track(socket);
      socket.setTimeout(this.options.connectTimeoutMs ?? 10_000, () =>
        socket.destroy(new Error('timed out')),
      );
      socket.once('connect', () => {
        socket.setTimeout(0);
        done(socket);
      });
      socket.once('error', fail);
    });
  }

  private deny(method: string, asked: string, reason: string): Refusal {
    const target = asked.length > MAX_TARGET_CHARS ? `${asked.slice(0, MAX_TARGET_CHARS)}…` : asked;
    const known = this.deniedTargets.get(target);
    if (known) known.count++;
    else if (this.deniedTargets.size < MAX_DENIED_TARGETS) {
      this.deniedTargets.set(target, { target, count: 1, reason });
      this.options.onDenied?.(method, target, reason);
    } else {
      const others = this.deniedTargets.get(OTHER_TARGETS);
      if (others) others.count++;
      else {
        const more = 'more refused destinations than are named';
        this.deniedTargets.set(OTHER_TARGETS, { target: OTHER_TARGETS, count: 1, reason: more });
      }
    }
    return new Refusal(`${target} is refused: ${reason}`);
  }
}

/** The longest socket path the kernel takes (108 bytes with its NUL); Node cuts longer ones short. */
const MAX_SOCKET_PATH = 107;

/**
 * Listens on `socketPath`; a path too long for a socket address (a deep
 * RUNNER_WORKDIR) is reached through the directory's descriptor in /proc.
 */
async function bindSocket(server: Server, socketPath: string): Promise<void> {
  const listen = (path: string) =>
    new Promise<void>((done, fail) => {
      server.once('error', fail);
      server.listen(path, () => {
        server.off('error', fail);
        done();
      });
    });
  if (Buffer.byteLength(socketPath) <= MAX_SOCKET_PATH) return listen(socketPath);
  const dir = await open(dirname(socketPath), 'r');
  try {
    await listen(`/proc/self/fd/${dir.fd}/${basename(socketPath)}`);
  } finally {
    await dir.close();
  }
}

function statusLine(status: 400 | 403 | 502, text: string): string {
  const reason = { 400: 'Bad Request', 403: 'Forbidden', 502: 'Bad Gateway' }[status];
  return `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\negress proxy: ${text}\n`;
}

function refusalResponse(error: unknown): string {
  return statusLine(error instanceof Refusal ? 403 : 502, (error as Error).message);
}
