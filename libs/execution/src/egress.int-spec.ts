import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ResolvedNetwork } from '@drover/contracts';
import { sandboxTestImage } from '@drover/testing';
import { DockerDriver, dockerClient, EgressUnavailableError } from './docker-driver';
import { openEgress, type RunEgress } from './egress';
import { EGRESS_SOCKET } from './egress-forwarder';
import type { SandboxCommand } from './sandbox-driver';

// A proxied run against the real engine: the container has loopback only, and
// reaches the "allowed" server (on the host's loopback) solely through its own
// run's proxy socket. Every escape attempt the tests make is named in `ATTEMPTS`.

const IMAGE = sandboxTestImage();
const RUNNER = `test-egress-${randomBytes(6).toString('hex')}`;

/** Probes run in the container with its node: each prints one JSON line of outcomes. */
const PROBE = String.raw`
const net = require('node:net');
const http = require('node:http');
const proxy = process.env.HTTPS_PROXY ? new URL(process.env.HTTPS_PROXY) : null;
const settle = (work) => new Promise((done) => { work(done); setTimeout(() => done('timeout'), 5000).unref(); });
const direct = (host, port) => settle((done) => {
  const s = net.connect({ host, port });
  s.on('connect', () => { s.destroy(); done('connected'); }).on('error', (e) => done(e.code));
});
const unix = (path) => settle((done) => {
  const s = net.connect(path);
  s.on('connect', () => { s.destroy(); done('connected'); }).on('error', (e) => done(e.code));
});
const tunnel = (target) => settle((done) => {
  if (!proxy) return done('no proxy');
  http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: target })
    .on('connect', (res, socket) => {
      if (res.statusCode !== 200) { socket.destroy(); return done(res.statusCode); }
      socket.write('GET /hello HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
      let text = '';
      socket.on('data', (d) => (text += d)).on('end', () => done(text.split('\r\n\r\n')[1]));
    })
    .on('error', (e) => done(e.code)).end();
});
const get = (url) => settle((done) => {
  if (!proxy) return done('no proxy');
  http.get({ host: proxy.hostname, port: proxy.port, path: url }, (res) => {
    let text = '';
    res.on('data', (d) => (text += d)).on('end', () => done(res.statusCode === 200 ? text : res.statusCode));
  }).on('error', (e) => done(e.code));
});
(async () => {
  const out = {};
  for (const [name, call] of JSON.parse(process.argv[2])) {
    const [kind, ...args] = call;
    out[name] = await { direct, unix, tunnel, get }[kind](...args);
  }
  console.log(JSON.stringify(out));
})();
`;

type Call = ['direct', string, number] | ['unix', string] | ['tunnel', string] | ['get', string];

let allowed: Server;
let other: Server;
let allowedPort: number;
let otherPort: number;
const dirs: string[] = [];
const open: RunEgress[] = [];

function serve(body: string): Promise<Server> {
  const server = createServer((_req, res) => res.end(body));
  return new Promise((done) => server.listen(0, '127.0.0.1', () => done(server)));
}

beforeAll(async () => {
  allowed = await serve('hello from the allowed server');
  other = await serve('hello from another port');
  allowedPort = (allowed.address() as AddressInfo).port;
  otherPort = (other.address() as AddressInfo).port;
});

afterAll(async () => {
  allowed.close();
  other.close();
  await DockerDriver.reap(dockerClient(engineHost()), RUNNER);
});

afterEach(async () => {
  await Promise.all(open.splice(0).map((egress) => egress.close()));
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

function engineHost(): string {
  const host = process.env.DROVER_TEST_DOCKER_HOST;
  if (!host)
    throw new Error('DROVER_TEST_DOCKER_HOST is empty: no container engine for the egress tests');
  return host;
}

/** A run's directory, its workspace (with the probe) and its egress as `network` says. */
async function startRun(network: ResolvedNetwork, agent = 'command') {
  const runDir = await mkdtemp(join(tmpdir(), 'drover-egress-'));
  dirs.push(runDir);
  const workspace = join(runDir, 'workspace');
  await mkdir(workspace);
  // The sandbox user (uid 1000) writes here; the runner opens its workspaces the same way.
  await chmod(workspace, 0o777);
  await writeFile(join(workspace, 'probe.js'), PROBE);
  const log: string[] = [];
  const egress = await openEgress(
    { agent, network, runDir, isolated: true, providerEnv: {}, log: (text) => log.push(text) },
    { endpoints: {}, allowPrivate: true },
  );
  open.push(egress);
  const driver = new DockerDriver({
    dockerHost: engineHost(),
    image: IMAGE,
    runnerId: RUNNER,
    user: '1000:1000',
    limits: { memoryBytes: 256 * 2 ** 20, nanoCpus: 1e9, pids: 64, tmpfsBytes: 16 * 2 ** 20 },
  }).forRun({ runId: RUNNER, network: egress.network }).driver;
  const exec = async (command: SandboxCommand) => {
    const lines = { stdout: [] as string[], stderr: [] as string[] };
    const result = await driver.exec(
      workspace,
      command,
      (stream, text) => lines[stream].push(text),
      new AbortController().signal,
    );
    return { ...result, ...lines };
  };
  const probe = async (calls: Record<string, Call>) => {
    const arg = JSON.stringify(Object.entries(calls)).replace(/'/g, `'\\''`);
    const result = await exec({ script: `node /workspace/probe.js '${arg}'` });
    expect(result.stderr).toEqual([]);
    return JSON.parse(result.stdout.at(-1) ?? '{}') as Record<string, unknown>;
  };
  return { runDir, egress, log, exec, probe };
}

describe('egress through the run proxy', () => {
  it('reaches an allowed host:port through the proxy and nothing else, counting each refusal', async () => {
    const run = await startRun({ allow: [`127.0.0.1:${allowedPort}`] });
    const outcome = await run.probe({
      tunnelAllowed: ['tunnel', `127.0.0.1:${allowedPort}`],
      getAllowed: ['get', `http://127.0.0.1:${allowedPort}/hello`],
      directAllowed: ['direct', '127.0.0.1', allowedPort],
      directPostgres: ['direct', '127.0.0.1', 5432],
      directOutside: ['direct', '10.0.2.2', 443],
      tunnelPostgres: ['tunnel', '127.0.0.1:5432'],
      tunnelPostgresAgain: ['tunnel', '127.0.0.1:5432'],
      tunnelOtherPort: ['tunnel', `127.0.0.1:${otherPort}`],
      getOtherPort: ['get', `http://127.0.0.1:${otherPort}/`],
      tunnelName: ['tunnel', 'not-allowed.example:443'],
      podmanSocket: ['unix', '/run/podman/podman.sock'],
    });
    expect(outcome).toEqual({
      tunnelAllowed: 'hello from the allowed server',
      getAllowed: 'hello from the allowed server',
      // The container's loopback is its own: the host's servers are not on it.
      directAllowed: 'ECONNREFUSED',
      directPostgres: 'ECONNREFUSED',
      directOutside: 'ENETUNREACH',
      tunnelPostgres: 403,
      tunnelPostgresAgain: 403,
      tunnelOtherPort: 403,
      getOtherPort: 403,
      tunnelName: 403,
      podmanSocket: 'ENOENT',
    });
    const { denied, allowed: list, policy } = run.egress.summary();
    expect({ policy, allowed: list }).toEqual({
      policy: 'allow',
      allowed: [`127.0.0.1:${allowedPort}`],
    });
    expect(denied).toEqual([
      { target: '127.0.0.1:5432', count: 2, reason: 'not allowed' },
      { target: `127.0.0.1:${otherPort}`, count: 2, reason: 'not allowed' },
      { target: 'not-allowed.example:443', count: 1, reason: 'not allowed' },
    ]);
    // One line per refused destination, on its first refusal.
    expect(run.log.filter((line) => line.startsWith('egress: denied'))).toEqual([
      'egress: denied CONNECT 127.0.0.1:5432 (not allowed)',
      `egress: denied CONNECT 127.0.0.1:${otherPort} (not allowed)`,
      'egress: denied CONNECT not-allowed.example:443 (not allowed)',
    ]);
  });

  it("gives each run its own socket: another run's is not in the container", async () => {
    const first = await startRun({ allow: [`127.0.0.1:${allowedPort}`] });
    const second = await startRun({ allow: [`127.0.0.1:${otherPort}`] });
    const secondSocket = join(second.runDir, 'egress', EGRESS_SOCKET);
    const [a, b] = await Promise.all([
      first.probe({
        own: ['tunnel', `127.0.0.1:${allowedPort}`],
        theOthers: ['tunnel', `127.0.0.1:${otherPort}`],
        secondSocket: ['unix', secondSocket],
      }),
      second.probe({
        own: ['tunnel', `127.0.0.1:${otherPort}`],
        theOthers: ['tunnel', `127.0.0.1:${allowedPort}`],
      }),
    ]);
    expect(a).toEqual({
      own: 'hello from the allowed server',
      theOthers: 403,
      secondSocket: 'ENOENT',
    });
    expect(b).toEqual({ own: 'hello from another port', theOthers: 403 });
    const listing = await first.exec({ script: 'ls /run/drover' });
    expect(listing.stdout.sort()).toEqual(['egress-forward.cjs', 'egress.sock']);
  });

  it('lets a tool that honours http_proxy through (busybox wget)', async () => {
    const run = await startRun({ allow: [`127.0.0.1:${allowedPort}`] });
    const result = await run.exec({
      script: `wget -q -O - http://127.0.0.1:${allowedPort}/x; echo; wget -q -O - http://127.0.0.1:${otherPort}/ 2>&1; echo "exit $?"`,
    });
    expect(result.stdout[0]).toBe('hello from the allowed server');
    expect(result.stdout.at(-1)).toBe('exit 1');
  });

  it('passes the exit status and output of the command through the forwarder', async () => {
    const run = await startRun({ allow: ['registry.npmjs.org'] });
    const result = await run.exec({
      script: 'echo "proxy=$HTTPS_PROXY no_proxy=[$NO_PROXY]"; echo err >&2; exit 7',
    });
    expect(result.exitCode).toBe(7);
    expect(result.stdout[0]).toMatch(/^proxy=http:\/\/127\.0\.0\.1:\d+ no_proxy=\[\]$/);
    expect(result.stderr).toEqual(['err']);
  });

  it('stops a proxied command on timeout: the forwarder passes SIGTERM on', async () => {
    const run = await startRun({ allow: ['registry.npmjs.org'] });
    const started = Date.now();
    const result = await run.exec({
      script: 'echo started; sleep 30; echo never',
      timeoutMs: 1_000,
    });
    // Well within the default 2 s kill grace: SIGTERM, not SIGKILL, ended it.
    expect(Date.now() - started).toBeLessThan(1_000 + 2_000);
    expect(result).toMatchObject({ timedOut: true, signal: 'SIGTERM', stdout: ['started'] });
  });

  it('fails clearly when the image has no node to run the forwarder with', async () => {
    const run = await startRun({ allow: ['registry.npmjs.org'] });
    // The same image with node off the PATH stands for an image without node.
    await expect(run.exec({ script: 'true', env: { PATH: '/bin' } })).rejects.toThrow(
      EgressUnavailableError,
    );
  });

  it('reaches nothing with network none: no proxy, no socket, no route', async () => {
    const run = await startRun('none');
    expect(run.egress.network).toEqual({ mode: 'none' });
    const outcome = await run.probe({
      noProxy: ['tunnel', `127.0.0.1:${allowedPort}`],
      direct: ['direct', '127.0.0.1', allowedPort],
      outside: ['direct', '10.0.2.2', 443],
    });
    expect(outcome).toEqual({
      noProxy: 'no proxy',
      direct: 'ECONNREFUSED',
      outside: 'ENETUNREACH',
    });
    expect((await run.exec({ script: 'ls /run/drover 2>&1 || true' })).stdout[0]).toMatch(
      /No such file/,
    );
    expect(run.log).toEqual(['egress: none (the sandbox has no network)']);
  });

  it('keeps the bridged network for open, and says so in the log', async () => {
    const run = await startRun('open');
    const result = await run.exec({ script: 'ls /sys/class/net; echo "[$HTTPS_PROXY]"' });
    expect(result.stdout).toContain('lo');
    expect(result.stdout.filter((name) => name !== 'lo' && !name.startsWith('['))).not.toEqual([]);
    expect(result.stdout.at(-1)).toBe('[]');
    expect(run.log[0]).toMatch(/^egress: open/);
  });

  it('closes the proxy with the run: the socket file is gone', async () => {
    const run = await startRun({ allow: ['registry.npmjs.org'] });
    const socket = join(run.runDir, 'egress', EGRESS_SOCKET);
    expect(existsSync(socket)).toBe(true);
    await run.egress.close();
    expect(existsSync(socket)).toBe(false);
  });
});
