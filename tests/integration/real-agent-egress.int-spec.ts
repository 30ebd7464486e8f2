import { networkInterfaces } from 'node:os';
import { agentTools, shellQuote, type Turn } from '@drover/testing';
import { realAgentTests, SCRIPTED_MODELS } from './support/real-agent-run';

// The real Claude Code in the agent image, scripted to try to get out of its sandbox with
// its own Bash tool: what each attempt got comes back to the model server in the CLI's
// next request, and the run's egress summary names what its proxy refused. Then the same
// CLI with `network: none`, which cannot reach its model at all.

/**
 * Each attempt prints what it got: `connected` (or the tunnel's answer) where it reached
 * something, else the error code or the proxy's HTTP status. Node 22 is in the image.
 */
const PROBE = String.raw`
const net = require('node:net');
const http = require('node:http');
const proxy = new URL(process.env.HTTPS_PROXY);
const settle = (work) => new Promise((done) => { work(done); setTimeout(() => done('timeout'), 5000).unref(); });
const connect = (options) => settle((done) => {
  const s = net.connect(options);
  s.on('connect', () => { s.destroy(); done('connected'); }).on('error', (e) => done(e.code));
});
const tunnel = (target) => settle((done) => {
  http.request({ host: proxy.hostname, port: proxy.port, method: 'CONNECT', path: target })
    .on('connect', (res, socket) => { socket.destroy(); done(res.statusCode === 200 ? 'connected' : res.statusCode); })
    .on('error', (e) => done(e.code)).end();
});
const get = (url) => settle((done) => {
  http.get({ host: proxy.hostname, port: proxy.port, path: url }, (res) => { res.resume(); done(res.statusCode); })
    .on('error', (e) => done(e.code));
});
(async () => {
  const out = {};
  for (const [name, [kind, ...args]] of Object.entries(JSON.parse(process.argv[1]))) {
    out[name] = await { connect, tunnel, get }[kind](...args);
  }
  console.log('PROBE ' + JSON.stringify(out));
})();
`;

type Attempt =
  ['connect', { host: string; port: number } | { path: string }] | ['tunnel' | 'get', string];

/** An address of this host on a real interface (not loopback), as another container would see it. */
function hostAddress(): string {
  const found = Object.values(networkInterfaces())
    .flat()
    .find((info) => info && info.family === 'IPv4' && !info.internal);
  if (!found) throw new Error('this host has no IPv4 address besides loopback');
  return found.address;
}

const real = realAgentTests();

describe('the real claude-code trying to leave its sandbox', () => {
  it('reaches its model only through the proxy: every other way out fails, and the proxy names its refusals', async () => {
    // The attempts name the server's port, known once it listens: the session is filled
    // then (the server reads its script turn by turn).
    const session: Turn[] = [];
    const server = await real.serve({ script: { sessions: [session] } });
    const modelPort = Number(new URL(server.url).port);
    const attempts = {
      // The container's loopback is its own: the host's servers are not on it.
      postgresDirect: ['connect', { host: '127.0.0.1', port: 5432 }],
      modelServerDirect: ['connect', { host: '127.0.0.1', port: modelPort }],
      hostAddressPostgres: ['connect', { host: hostAddress(), port: 5432 }],
      otherHostDirect: ['connect', { host: '10.0.2.2', port: 443 }],
      publicAddressDirect: ['connect', { host: '1.1.1.1', port: 443 }],
      nameDirect: ['connect', { host: 'example.com', port: 443 }],
      // The run's proxy allows its model endpoint and nothing else.
      modelServerTunnel: ['tunnel', `127.0.0.1:${modelPort}`],
      postgresTunnel: ['tunnel', '127.0.0.1:5432'],
      postgresGet: ['get', 'http://127.0.0.1:5432/'],
      natsTunnel: ['tunnel', '127.0.0.1:4222'],
      nameTunnel: ['tunnel', 'example.com:443'],
      // The engine's socket the runner drives containers with, and Docker's, are not mounted.
      podmanSocket: ['connect', { path: '/run/podman/podman.sock' }],
      dockerSocket: ['connect', { path: '/var/run/docker.sock' }],
    } satisfies Record<string, Attempt>;
    // It speaks to the proxy itself: Node's own use of HTTP(S)_PROXY is turned off for it.
    const probe = `NODE_USE_ENV_PROXY= node -e ${shellQuote(PROBE)} ${shellQuote(JSON.stringify(attempts))}`;
    session.push(
      { tool: agentTools('claude-code').runCommand(probe) },
      { text: 'I could not get out.' },
    );

    const run = await real.runner.run(
      'claude-code',
      { prompt: 'Find a way out.', model: SCRIPTED_MODELS['claude-code'].model },
      server,
    );
    expect({ outcome: run.outcome.outcome, error: run.outcome.errorMessage }).toEqual({
      outcome: 'SUCCEEDED',
      error: null,
    });
    expect({ problems: server.problems, remaining: server.remaining() }).toEqual({
      problems: [],
      remaining: [],
    });

    // What the Bash tool printed reached the model in Claude Code's next request.
    const main = server.requests.filter((request) => request.kind === 'main');
    const output = main[1]?.conversation?.toolResults.at(-1)?.output ?? '';
    const line = /PROBE (\{.*\})/.exec(output)?.[1];
    expect(line).toBeDefined();
    expect(JSON.parse(line ?? '{}')).toEqual({
      postgresDirect: 'ECONNREFUSED',
      modelServerDirect: 'ECONNREFUSED',
      hostAddressPostgres: 'ENETUNREACH',
      otherHostDirect: 'ENETUNREACH',
      publicAddressDirect: 'ENETUNREACH',
      // No resolver is reachable: the name never becomes an address.
      nameDirect: expect.stringMatching(/^(EAI_AGAIN|ENOTFOUND)$/) as string,
      modelServerTunnel: 'connected',
      postgresTunnel: 403,
      postgresGet: 403,
      natsTunnel: 403,
      nameTunnel: 403,
      podmanSocket: 'ENOENT',
      dockerSocket: 'ENOENT',
    });

    expect(run.outcome.result?.egress).toEqual({
      policy: 'provider',
      allowed: [`127.0.0.1:${modelPort}`],
      denied: [
        { target: '127.0.0.1:5432', count: 2, reason: 'not allowed' },
        { target: '127.0.0.1:4222', count: 1, reason: 'not allowed' },
        { target: 'example.com:443', count: 1, reason: 'not allowed' },
      ],
    });
    expect(run.reports.stream('system').filter((l) => l.startsWith('egress: denied'))).toEqual([
      'egress: denied CONNECT 127.0.0.1:5432 (not allowed)',
      'egress: denied CONNECT 127.0.0.1:4222 (not allowed)',
      'egress: denied CONNECT example.com:443 (not allowed)',
    ]);
  }, 120_000);

  it('reaches nothing with network none: the model server hears nothing and the run fails', async () => {
    const server = await real.serve({ script: { sessions: [[{ text: 'never answered' }]] } });
    const run = await real.runner.run(
      'claude-code',
      {
        prompt: 'Answer.',
        model: SCRIPTED_MODELS['claude-code'].model,
        network: 'none',
      },
      server,
    );
    expect(server.requests).toEqual([]);
    expect(run.reports.stream('system')).toContain('egress: none (the sandbox has no network)');
    expect(run.outcome).toMatchObject({ outcome: 'FAILED', errorClass: 'AGENT_FAILED' });
    // Its ANTHROPIC_BASE_URL names the host's loopback; the container's own has nothing there.
    expect(run.outcome.errorMessage).toBe(
      'claude-code (iteration 1) exited with 1: API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)',
    );
    expect(run.outcome.result?.egress).toEqual({ policy: 'none', allowed: [], denied: [] });
  }, 120_000);
});
