/** Where a proxied container sees its run's egress directory (read-only). */
export const EGRESS_MOUNT = '/run/drover';
/** The run's proxy socket, in its egress directory. */
export const EGRESS_SOCKET = 'egress.sock';
/** The forwarder script, written beside the socket. */
export const EGRESS_FORWARDER = 'egress-forward.cjs';

/**
 * PID 1 of a proxied container, run by the image's `node`: it listens on a
 * loopback port (the container's only interface), relays each connection to
 * the run's proxy socket, then runs the command with HTTP(S)_PROXY pointing at
 * that port, passes SIGTERM, SIGINT and SIGHUP on to it, and exits as it did
 * (128+n for signal n). argv: socket, the NODE_OPTIONS the command is to have
 * (the forwarder itself runs without them), then the command and its arguments.
 * It holds no privilege the command lacks: the runner's proxy decides.
 */
export const FORWARDER_SOURCE = String.raw`'use strict';
const net = require('node:net');
const os = require('node:os');
const { spawn } = require('node:child_process');

const [socketPath, nodeOptions, command, ...args] = process.argv.slice(2);

const server = net.createServer((client) => {
  const upstream = net.connect(socketPath);
  const end = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on('error', end).on('close', end);
  upstream.on('error', end).on('close', end);
  client.pipe(upstream).pipe(client);
});

server.on('error', (error) => {
  process.stderr.write('drover egress forwarder: ' + error.message + '\n');
  process.exit(125);
});

server.listen(0, '127.0.0.1', () => {
  const proxy = 'http://127.0.0.1:' + server.address().port;
  const env = { ...process.env };
  for (const name of ['HTTPS_PROXY', 'HTTP_PROXY', 'https_proxy', 'http_proxy']) env[name] = proxy;
  for (const name of ['NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy']) env[name] = '';
  // Node's own fetch and http honour the variables above only when told to (Node 22.21+, 24+).
  env.NODE_USE_ENV_PROXY = '1';
  if (nodeOptions) env.NODE_OPTIONS = nodeOptions;
  else delete env.NODE_OPTIONS;
  const child = spawn(command, args, { stdio: 'inherit', env });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('error', (error) => {
    process.stderr.write('drover egress forwarder: ' + error.message + '\n');
    process.exit(127);
  });
  child.on('exit', (code, signal) => {
    process.exit(code === null ? 128 + (os.constants.signals[signal] || 0) : code);
  });
});
`;
