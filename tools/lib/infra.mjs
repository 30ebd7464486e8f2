// Makes sure Postgres, Redis and NATS (with JetStream) answer on localhost:
// uses them if they do, else starts the local daemons where installed, else
// `docker compose up -d` for the missing ones. Says what it does.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { Socket } from 'node:net';

export const SERVICES = [
  { name: 'postgres', port: 5432 },
  { name: 'redis', port: 6379 },
  { name: 'nats', port: 4222 },
];

export function answers(port, host = '127.0.0.1', timeoutMs = 1000) {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(port, host, () => done(true));
  });
}

const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0;

function startLocal(name) {
  switch (name) {
    case 'postgres': {
      if (!has('pg_ctlcluster') || !existsSync('/etc/postgresql')) return false;
      const version = readdirSync('/etc/postgresql')[0];
      execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', 'start'], {
        stdio: 'inherit',
      });
      return true;
    }
    case 'redis':
      if (!has('redis-server')) return false;
      execFileSync(
        'redis-server',
        [
          '--daemonize',
          'yes',
          '--bind',
          '127.0.0.1',
          '-::1',
          '--port',
          '6379',
          '--save',
          '',
          '--appendonly',
          'no',
        ],
        { stdio: 'inherit' },
      );
      return true;
    case 'nats':
      if (!existsSync('/usr/sbin/nats-server') || !has('start-stop-daemon')) return false;
      execFileSync(
        'start-stop-daemon',
        [
          '--start',
          '--oknodo',
          '--background',
          '--exec',
          '/usr/sbin/nats-server',
          '--',
          '-a',
          '127.0.0.1',
          '-p',
          '4222',
          '-js',
          '-sd',
          '/var/lib/nats-server',
        ],
        { stdio: 'inherit' },
      );
      return true;
    default:
      return false;
  }
}

async function waitUntilUp(port, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await answers(port)) return true;
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

export async function ensureInfra(log = console.log) {
  const missing = [];
  for (const svc of SERVICES) {
    if (await answers(svc.port)) log(`  ${svc.name}: answering on 127.0.0.1:${svc.port}`);
    else missing.push(svc);
  }
  const forCompose = [];
  for (const svc of missing) {
    let started = false;
    try {
      started = startLocal(svc.name);
    } catch (error) {
      log(`  ${svc.name}: could not start the local daemon (${error.message})`);
    }
    if (started && (await waitUntilUp(svc.port)))
      log(`  ${svc.name}: was down; started the local daemon`);
    else forCompose.push(svc);
  }
  if (forCompose.length) {
    const names = forCompose.map((s) => s.name);
    log(
      `  ${names.join(', ')}: not running here; starting with: docker compose up -d ${names.join(' ')}`,
    );
    const res = spawnSync('docker', ['compose', 'up', '-d', ...names], { stdio: 'inherit' });
    if (res.status !== 0) {
      throw new Error(
        `could not start ${names.join(', ')}: install them or a Docker engine, or set their URLs`,
      );
    }
    for (const svc of forCompose) {
      if (!(await waitUntilUp(svc.port, 60_000)))
        throw new Error(`${svc.name} did not come up on port ${svc.port}`);
    }
  }
}
