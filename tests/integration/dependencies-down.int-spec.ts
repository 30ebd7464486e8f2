import { connect, createServer, type Server, type Socket } from 'node:net';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { GatewayConfigSchema, loadConfig } from '@drover/config';
import { createTestEnv, freePort, type TestEnv } from '@drover/testing';
import { ApiKeys, DEFAULT_PROJECT } from '@drover/workflow';
import { createGateway } from '@drover/app-gateway';

// A dependency that is down is the client's to wait out: 503 with Retry-After,
// in the shape of every error, never a 500.

let env: TestEnv;
let apiKey: string;
const gateways: NestExpressApplication[] = [];

beforeAll(async () => {
  env = await createTestEnv();
  ({ key: apiKey } = await new ApiKeys(env.prisma).issue({
    projectId: DEFAULT_PROJECT.id,
    name: 'dependencies-down',
    role: 'admin',
  }));
}, 60_000);

afterAll(async () => {
  for (const gateway of gateways) await gateway.close();
  await env?.destroy();
});

/**
 * A way to this test's Postgres that can be cut: `cut()` drops every
 * connection through it and closes its port, as a database that goes down.
 */
async function cuttablePostgres(): Promise<{ url: string; cut: () => Promise<void> }> {
  const target = new URL(env.env.DATABASE_URL);
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname);
    for (const [a, b] of [
      [client, upstream],
      [upstream, client],
    ]) {
      sockets.add(a);
      a.pipe(b);
      a.on('error', () => b.destroy());
      a.on('close', () => {
        sockets.delete(a);
        b.destroy();
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(target);
  url.hostname = '127.0.0.1';
  url.port = String((server.address() as { port: number }).port);
  return {
    url: url.toString(),
    cut: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** A gateway on this test's services, but for those `down` names. */
async function gatewayWith(down: Record<string, string>): Promise<string> {
  const config = loadConfig(GatewayConfigSchema, {
    ...env.env,
    LOG_LEVEL: 'error',
    GATEWAY_PORT: '0',
    GATEWAY_RATE_LIMIT: '0',
    ...down,
  });
  const gateway = await createGateway(config);
  gateway.useLogger(['error']);
  await gateway.listen(0, '127.0.0.1');
  gateways.push(gateway);
  return `http://127.0.0.1:${(gateway.getHttpServer().address() as { port: number }).port}`;
}

interface Answer {
  route: string;
  status: number;
  retryAfter: string | null;
  code: string;
}

async function answer(baseUrl: string, method: string, path: string): Promise<Answer> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
    body: method === 'POST' ? JSON.stringify({ title: 't', tasks: [] }) : undefined,
  });
  const body = (await res.json()) as { error?: { code: string } };
  return {
    route: `${method} ${path}`,
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    code: body.error?.code ?? '',
  };
}

describe('the gateway while a dependency is down', () => {
  it('answers 503 DATABASE_UNAVAILABLE with Retry-After while Postgres refuses connections', async () => {
    const postgres = await cuttablePostgres();
    const url = await gatewayWith({ DATABASE_URL: postgres.url });
    expect(await answer(url, 'GET', '/me')).toMatchObject({ status: 200 });
    await postgres.cut();
    expect((await fetch(`${url}/health`)).status).toBe(503);
    const routes = [
      ['GET', '/me'],
      ['GET', '/tickets'],
      ['POST', '/tickets'],
      ['POST', '/events/token'],
    ];
    const answers = await Promise.all(routes.map(([method, path]) => answer(url, method, path)));
    expect(answers).toEqual(
      routes.map(([method, path]) => ({
        route: `${method} ${path}`,
        status: 503,
        retryAfter: '5',
        code: 'DATABASE_UNAVAILABLE',
      })),
    );
  }, 60_000);

  it('answers 503 REDIS_UNAVAILABLE for an event-stream token while Redis is down, ORCHESTRATOR_UNAVAILABLE alike', async () => {
    const url = await gatewayWith({
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      GATEWAY_COMMAND_TIMEOUT_MS: '500',
    });
    expect(await answer(url, 'POST', '/events/token')).toEqual({
      route: 'POST /events/token',
      status: 503,
      retryAfter: '5',
      code: 'REDIS_UNAVAILABLE',
    });
    // What needs only Postgres still works.
    expect((await answer(url, 'GET', '/me')).status).toBe(200);
    // No orchestrator runs beside this gateway: a command gets the same answer.
    const submit = await fetch(`${url}/tickets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 't', tasks: [{ key: 'a', steps: [{ run: 'true' }] }] }),
    });
    expect({ status: submit.status, retryAfter: submit.headers.get('retry-after') }).toEqual({
      status: 503,
      retryAfter: '5',
    });
    expect(((await submit.json()) as { error: { code: string } }).error.code).toBe(
      'ORCHESTRATOR_UNAVAILABLE',
    );
  }, 60_000);
});
