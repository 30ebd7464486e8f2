import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sandboxTestImage, waitFor } from '@drover/testing';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// A task's `network` from the API to the sandbox: refused with 422 when it is
// not a policy, stored resolved (each agent's default filled in), and applied by
// a runner that sandboxes in containers through the run's own egress proxy.

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}
interface Task {
  id: string;
  status: string;
  runs: { id: string; status: string; result: Record<string, unknown> | null }[];
}

let stack: InProcessStack;
let allowed: Server;
let port: number;

beforeAll(async () => {
  allowed = createServer((_req, res) => res.end('hello through the proxy'));
  await new Promise<void>((done) => allowed.listen(0, '127.0.0.1', done));
  port = (allowed.address() as AddressInfo).port;
  stack = await startInProcessStack({
    RUNNER_SANDBOX: 'docker',
    DOCKER_HOST: process.env.DROVER_TEST_DOCKER_HOST ?? '',
    RUNNER_IMAGE: sandboxTestImage(),
    RUNNER_DISK_QUOTA: 'off',
    // The "allowed" server is on the runner's loopback.
    RUNNER_ALLOW_PRIVATE_HOSTS: 'true',
  });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  allowed?.close();
});

async function call(path: string, init: RequestInit = {}) {
  const headers = { ...stack.auth, ...(init.headers as Record<string, string> | undefined) };
  const res = await fetch(`${stack.baseUrl}${path}`, { ...init, headers });
  return { status: res.status, body: await res.json() };
}

const submit = (tasks: unknown[]) =>
  call('/tickets', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'egress', tasks }),
  });

describe('network policies through the API', () => {
  it.each<[string, Record<string, unknown>, string, string]>([
    [
      'an unknown policy',
      { network: 'everything' },
      'body.tasks[0].network',
      'must be "none", "provider", "open" or { allow: ["host", "*.domain", "host:port"] }',
    ],
    [
      'a list where the allowlist object belongs',
      { network: ['registry.npmjs.org'] },
      'body.tasks[0].network',
      'must be "none", "provider", "open" or { allow: ["host", "*.domain", "host:port"] }',
    ],
    [
      'a URL in the allowlist',
      { network: { allow: ['registry.npmjs.org', 'https://pypi.org/simple'] } },
      'body.tasks[0].network.allow[1]',
      '"https://pypi.org/simple" is not a host: give a name or address, no scheme, path or user',
    ],
    [
      'a port out of range',
      { network: { allow: ['db.example.com:65536'] } },
      'body.tasks[0].network.allow[0]',
      '"db.example.com:65536" has no valid port: a port is a number from 1 to 65535',
    ],
    [
      'a wildcard inside a name',
      { network: { allow: ['registry.*.org'] } },
      'body.tasks[0].network.allow[0]',
      `"registry.*.org" is not a host: names are letters, digits and '-' between dots ('*.' only as a prefix)`,
    ],
    [
      'a wildcard over a top-level domain',
      { network: { allow: ['*.com'] } },
      'body.tasks[0].network.allow[0]',
      '"*.com" would allow a whole top-level domain: name a domain below it',
    ],
    [
      'an IPv6 address without brackets',
      { network: { allow: ['::1'] } },
      'body.tasks[0].network.allow[0]',
      '"::1" is not a host: write an IPv6 address in brackets, [::1]',
    ],
    [
      'an allowlist that asks for none',
      { network: { allow: ['none'] } },
      'body.tasks[0].network.allow[0]',
      '"none" is a network policy, not a host: write network: none',
    ],
    [
      'an empty allowlist',
      { network: { allow: [] } },
      'body.tasks[0].network.allow',
      'an empty allowlist allows nothing: write network: none',
    ],
    [
      'a policy beside the allowlist',
      { network: { allow: ['registry.npmjs.org'], policy: 'none' } },
      'body.tasks[0].network.policy',
      'unknown field',
    ],
    [
      'provider for the command agent',
      { network: 'provider' },
      'body.tasks[0].network',
      'the command agent has no model provider: use none, open or { allow: [hosts] }',
    ],
  ])(
    'refuses %s with 422 naming the field, and writes nothing',
    async (_what, fields, path, message) => {
      const before = await stack.env.prisma.task.count();
      const res = await submit([{ key: 'net', steps: [{ run: 'true' }], ...fields }]);
      expect(res.status).toBe(422);
      const { error } = res.body as ErrorBody;
      expect(error.code).toBe('INVALID_REQUEST');
      expect(error.details).toEqual([{ path, message }]);
      expect(await stack.env.prisma.task.count()).toBe(before);
    },
  );

  it("stores each task's policy resolved: its agent's default, or true and false as open and none", async () => {
    const gated = { requires_approval: true };
    const res = await submit([
      { key: 'plain', steps: [{ run: 'true' }], ...gated },
      { key: 'agent', agent: 'claude-code', prompt: 'fix it', ...gated },
      { key: 'legacy-open', steps: [{ run: 'true' }], network: true, ...gated },
      { key: 'legacy-none', agent: 'codex', prompt: 'fix it', network: false, ...gated },
      {
        key: 'listed',
        agent: 'gemini-cli',
        prompt: 'x',
        network: { allow: ['*.pypi.org'] },
        ...gated,
      },
    ]);
    expect(res.status).toBe(201);
    const ids = (res.body as { tasks: { id: string; key: string }[] }).tasks;
    const stored = await stack.env.prisma.task.findMany({
      where: { id: { in: ids.map((t) => t.id) } },
      select: { key: true, spec: true },
    });
    const network = Object.fromEntries(
      stored.map((t) => [t.key, (t.spec as { network?: unknown }).network]),
    );
    expect(network).toEqual({
      plain: 'none',
      agent: 'provider',
      'legacy-open': 'open',
      'legacy-none': 'none',
      listed: { allow: ['*.pypi.org'] },
    });
  });

  it('runs a task through its proxy: the allowed host answers, the rest is refused and counted', async () => {
    const wget = (url: string) => `wget -q -O - ${url} 2>/dev/null; echo " wget: $?"`;
    const res = await submit([
      {
        key: 'fetch',
        steps: [
          {
            run: [
              wget(`http://127.0.0.1:${port}/`),
              wget('http://127.0.0.1:5432/'),
              wget('http://registry.npmjs.org.evil.example/'),
            ].join('; '),
          },
        ],
        network: { allow: [`127.0.0.1:${port}`] },
      },
    ]);
    expect(res.status).toBe(201);
    const [created] = (res.body as { tasks: { id: string }[] }).tasks;
    const task = await waitFor(
      async () => {
        const { body } = await call(`/tasks/${created.id}`);
        const t = body as Task;
        return ['SUCCEEDED', 'FAILED'].includes(t.status) ? t : undefined;
      },
      'the task to end',
      60_000,
    );
    expect(task.status).toBe('SUCCEEDED');
    expect(task.runs[0].result?.egress).toEqual({
      policy: 'allow',
      allowed: [`127.0.0.1:${port}`],
      denied: [
        { target: '127.0.0.1:5432', count: 1, reason: 'not allowed' },
        { target: 'registry.npmjs.org.evil.example:80', count: 1, reason: 'not allowed' },
      ],
    });
    const logs = await call(`/runs/${task.runs[0].id}/logs`);
    const lines = (logs.body as { lines: { text: string }[] }).lines.map((l) => l.text);
    expect(lines).toEqual(
      expect.arrayContaining([
        `egress: allow: only 127.0.0.1:${port}, through the run's proxy`,
        'hello through the proxy wget: 0',
        ' wget: 1',
        'egress: denied GET 127.0.0.1:5432 (not allowed)',
        'egress: denied GET registry.npmjs.org.evil.example:80 (not allowed)',
      ]),
    );
  }, 90_000);
});
