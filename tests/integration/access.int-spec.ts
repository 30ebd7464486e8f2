import { createHash } from 'node:crypto';
import { request } from 'node:http';
import WebSocket from 'ws';
import { waitFor } from '@drover/testing';
import { ApiKeys, DEFAULT_PROJECT, Projects } from '@drover/workflow';
import { drover } from './support/cli';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// Projects, keys and roles; one project's data unreachable from another's keys, on
// REST and on the event stream; expiry, revocation and the per-key rate limit.

interface ErrorBody {
  error: { code: string; message: string };
}
interface IssuedKey {
  id: string;
  key: string;
  role: string;
  project: string;
}

const RATE_LIMIT = 200;

let stack: InProcessStack;
/** Admin of the default (operator) project. */
let operator: string;
/** Admin of project `team-b`, and the project's id. */
let adminB: string;
let projectB: string;

beforeAll(async () => {
  stack = await startInProcessStack({
    GATEWAY_RATE_LIMIT: String(RATE_LIMIT),
    GATEWAY_KEY_RECHECK_MS: '200',
    GATEWAY_EVENT_POLL_MS: '100',
    GATEWAY_ALLOWED_ORIGINS: 'https://dashboard.example.com',
  });
  operator = stack.apiKey;
  const created = await new Projects(stack.env.prisma).create(
    { slug: 'team-b', name: 'Team B' },
    null,
  );
  adminB = created.key.key;
  projectB = created.project.id;
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function call(key: string | null, method: string, path: string, body?: unknown) {
  const res = await fetch(`${stack.baseUrl}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: text ? (JSON.parse(text) as unknown) : null,
  };
}

const newKey = async (admin: string, projectId: string, role: string, extra = {}) => {
  const res = await call(admin, 'POST', `/projects/${projectId}/keys`, {
    name: role,
    role,
    ...extra,
  });
  expect(res.status).toBe(201);
  return res.body as IssuedKey;
};

const submit = (key: string, title = 'access') =>
  call(key, 'POST', '/tickets', { title, tasks: [{ key: 'only', steps: [{ run: 'echo hi' }] }] });

describe('projects and keys', () => {
  it('lets the operator create a project whose first admin key is shown once and stored hashed', async () => {
    const res = await call(operator, 'POST', '/projects', { slug: 'team-c', name: 'Team C' });
    expect(res.status).toBe(201);
    const { project, key } = res.body as { project: { id: string; slug: string }; key: IssuedKey };
    expect(project.slug).toBe('team-c');
    expect(key).toMatchObject({ role: 'admin', project: 'team-c' });
    expect(key.key).toMatch(/^drv_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);

    const row = await stack.env.prisma.apiKey.findUniqueOrThrow({ where: { id: key.id } });
    expect(row.hash).toBe(sha256(key.key));
    expect(JSON.stringify(row)).not.toContain(key.key.slice('drv_'.length + 17));

    const listed = await call(key.key, 'GET', `/projects/${project.id}/keys`);
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).not.toContain(key.key);
    expect(JSON.stringify(listed.body)).not.toContain(row.hash);

    const again = await call(operator, 'POST', '/projects', { slug: 'team-c', name: 'again' });
    expect(again.status).toBe(409);
    expect((again.body as ErrorBody).error.code).toBe('PROJECT_EXISTS');
  });

  it('refuses project creation to admins of other projects and to non-admins', async () => {
    const member = await newKey(operator, DEFAULT_PROJECT.id, 'member');
    for (const key of [adminB, member.key]) {
      const res = await call(key, 'POST', '/projects', { slug: 'team-x', name: 'X' });
      expect(res.status).toBe(403);
      expect((res.body as ErrorBody).error.code).toBe('FORBIDDEN');
    }
    expect(await stack.env.prisma.project.count({ where: { slug: 'team-x' } })).toBe(0);
  });

  it('gives each role what it may do and no more', async () => {
    const viewer = await newKey(adminB, projectB, 'viewer');
    const member = await newKey(adminB, projectB, 'member');
    expect((await call(viewer.key, 'GET', '/tickets')).status).toBe(200);
    expect((await submit(viewer.key)).status).toBe(403);
    expect(
      (await call(viewer.key, 'POST', `/projects/${projectB}/keys`, { name: 'v', role: 'viewer' }))
        .status,
    ).toBe(403);
    expect((await submit(member.key)).status).toBe(201);
    expect((await call(member.key, 'GET', `/projects/${projectB}/keys`)).status).toBe(403);
    expect((await call(member.key, 'DELETE', `/keys/${viewer.id}`)).status).toBe(403);
  });

  it('revokes a key at once; revoking twice is 409, another project revoking it 404', async () => {
    const viewer = await newKey(adminB, projectB, 'viewer');
    expect((await call(viewer.key, 'GET', '/tickets')).status).toBe(200);
    expect((await call(operator, 'DELETE', `/keys/${viewer.id}`)).status).toBe(404);
    expect((await call(viewer.key, 'GET', '/tickets')).status).toBe(200);

    const revoked = await call(adminB, 'DELETE', `/keys/${viewer.id}`);
    expect(revoked.status).toBe(200);
    expect((revoked.body as { revokedAt: string | null }).revokedAt).not.toBeNull();
    expect((await call(viewer.key, 'GET', '/tickets')).status).toBe(401);
    expect((await call(adminB, 'DELETE', `/keys/${viewer.id}`)).status).toBe(409);
  });

  it('ends a key at its expiry and refuses an expiry in the past', async () => {
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const key = await newKey(adminB, projectB, 'viewer', { expires_at: expiresAt });
    expect((await call(key.key, 'GET', '/tickets')).status).toBe(200);
    await waitFor(
      async () => (await call(key.key, 'GET', '/tickets')).status === 401,
      'expiry',
      5000,
    );

    const past = await call(adminB, 'POST', `/projects/${projectB}/keys`, {
      name: 'old',
      role: 'viewer',
      expires_at: '2020-01-01T00:00:00Z',
    });
    expect(past.status).toBe(422);
    expect(JSON.stringify(past.body)).toContain('body.expires_at');
  });

  it('keeps a key issued by an expiring key within its expiry', async () => {
    const expiresAt = new Date(Date.now() + 3_600_000);
    const shortAdmin = await newKey(adminB, projectB, 'admin', {
      expires_at: expiresAt.toISOString(),
    });
    const inherited = await newKey(shortAdmin.key, projectB, 'viewer');
    expect((inherited as IssuedKey & { expiresAt: string }).expiresAt).toBe(
      expiresAt.toISOString(),
    );
    const longer = await call(shortAdmin.key, 'POST', `/projects/${projectB}/keys`, {
      name: 'longer',
      role: 'viewer',
      expires_at: new Date(expiresAt.getTime() + 1000).toISOString(),
    });
    expect(longer.status).toBe(422);
    expect(JSON.stringify(longer.body)).toContain('body.expires_at');
  });

  it('takes the scheme in any case, and refuses two Authorization headers', async () => {
    for (const header of [`bearer ${adminB}`, `BEARER  ${adminB}`]) {
      const res = await fetch(`${stack.baseUrl}/me`, { headers: { authorization: header } });
      expect([header, res.status]).toEqual([header, 200]);
    }
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${stack.baseUrl}/me`, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.setHeader('authorization', [`Bearer ${adminB}`, `Bearer ${adminB}`]);
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(401);
  });

  it('answers every bad credential with the same 401, without reading the body', async () => {
    const revoked = await newKey(adminB, projectB, 'viewer');
    await call(adminB, 'DELETE', `/keys/${revoked.id}`);
    const wrongSecret = `${adminB.slice(0, 21)}${'A'.repeat(43)}`;
    const answers = [];
    for (const header of [
      undefined,
      'Bearer nope',
      `Basic ${adminB}`,
      `Bearer ${wrongSecret}`,
      `Bearer ${revoked.key}`,
    ]) {
      const res = await fetch(`${stack.baseUrl}/tickets`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(header ? { authorization: header } : {}),
        },
        body: '{not json',
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
      answers.push(await res.text());
    }
    expect(new Set(answers).size).toBe(1);
    expect((await call(null, 'GET', '/no-such-route')).status).toBe(401);
    expect((await call(null, 'GET', '/health')).status).toBe(200);
  });
});

describe("one project's data, unreachable from another's keys", () => {
  it('answers 404 for a guessed id of another project and changes nothing', async () => {
    const created = await submit(operator, 'project A only');
    expect(created.status).toBe(201);
    const ticket = created.body as { id: string; tasks: { id: string }[] };
    const taskId = ticket.tasks[0].id;
    const task = await waitFor(async () => {
      const t = (await call(operator, 'GET', `/tasks/${taskId}`)).body as {
        status: string;
        runs: { id: string }[];
      };
      return t.status === 'SUCCEEDED' && t;
    }, 'the task to succeed');
    const runId = task.runs[0].id;

    for (const [method, path] of [
      ['GET', `/tickets/${ticket.id}`],
      ['GET', `/tasks/${taskId}`],
      ['GET', `/runs/${runId}/logs`],
      ['GET', `/runs/${runId}/artifacts`],
      ['GET', `/runs/${runId}/diff`],
      ['POST', `/tickets/${ticket.id}/cancel`],
      ['POST', `/tasks/${taskId}/cancel`],
      ['GET', `/projects/${DEFAULT_PROJECT.id}`],
    ] as const) {
      const res = await call(adminB, method, path);
      expect([method, path, res.status]).toEqual([method, path, 404]);
    }
    const list = (await call(adminB, 'GET', '/tickets?limit=500')).body as {
      items: { id: string }[];
    };
    expect(list.items.map((t) => t.id)).not.toContain(ticket.id);
    expect((await call(operator, 'GET', `/tickets/${ticket.id}`)).status).toBe(200);
  });

  it.each([
    ['id', { id: '00000000-0000-4000-8000-000000000009' }, {}],
    ['status', { status: 'SUCCEEDED' }, {}],
    ['a task id', {}, { id: '00000000-0000-4000-8000-000000000009' }],
    ['a task status', {}, { status: 'SUCCEEDED' }],
    ['an attempt', {}, { attempt: 7 }],
    ['a lease', {}, { lease_token: '00000000-0000-4000-8000-000000000009' }],
  ])('refuses a ticket that sets %s, writing nothing', async (_what, ticketExtra, taskExtra) => {
    const before = await stack.env.prisma.ticket.count();
    const res = await call(adminB, 'POST', '/tickets', {
      title: 't',
      ...ticketExtra,
      tasks: [{ key: 'a', steps: [{ run: 'true' }], ...taskExtra }],
    });
    expect(res.status).toBe(422);
    expect(await stack.env.prisma.ticket.count()).toBe(before);
  });

  it('refuses a ticket naming another project than the key’s', async () => {
    const before = await stack.env.prisma.ticket.count();
    const res = await call(adminB, 'POST', '/tickets', {
      title: 't',
      project: 'default',
      tasks: [{ key: 'a', steps: [{ run: 'true' }] }],
    });
    expect(res.status).toBe(403);
    expect(await stack.env.prisma.ticket.count()).toBe(before);
    const own = await call(adminB, 'POST', '/tickets', {
      title: 't',
      project: 'team-b',
      tasks: [{ key: 'a', steps: [{ run: 'true' }] }],
    });
    expect(own.status).toBe(201);
    expect((own.body as { project: string }).project).toBe('team-b');
  });
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface StreamedEvent {
  type: string;
  ticketId: string | null;
}

/** Opens `/events?...`; resolves with the socket, or the refusal's status. */
function openStream(
  query: string,
  headers: Record<string, string>,
): Promise<{
  status: number;
  ws?: WebSocket;
  events: StreamedEvent[];
}> {
  return new Promise((resolve, reject) => {
    const events: StreamedEvent[] = [];
    const ws = new WebSocket(`${stack.baseUrl.replace('http', 'ws')}/events${query}`, { headers });
    ws.on('message', (raw: Buffer) =>
      events.push(JSON.parse(raw.toString('utf8')) as StreamedEvent),
    );
    ws.once('open', () => resolve({ status: 101, ws, events }));
    ws.once('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0, events }));
    ws.once('error', reject);
  });
}

describe('the event stream', () => {
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  it('needs a key or a single-use token, and an allowed origin', async () => {
    expect((await openStream('', {})).status).toBe(401);
    expect((await openStream('?token=not-a-token', {})).status).toBe(401);
    const { token } = (await call(adminB, 'POST', '/events/token')).body as { token: string };
    const first = await openStream(`?token=${token}`, {});
    expect(first.status).toBe(101);
    first.ws?.close();
    expect((await openStream(`?token=${token}`, {})).status).toBe(401);

    const own = { ...bearer(adminB), host: new URL(stack.baseUrl).host };
    for (const [origin, status] of [
      ['https://evil.example.com', 403],
      ['https://dashboard.example.com', 101],
      [stack.baseUrl, 101],
    ] as const) {
      const res = await openStream('', { ...own, origin });
      expect([origin, res.status]).toEqual([origin, status]);
      res.ws?.close();
    }
  });

  it("shows each project only its own tickets' events", async () => {
    const foreign = (await submit(operator, 'not for B')).body as { id: string };
    expect((await openStream(`?ticket=${foreign.id}`, bearer(adminB))).status).toBe(404);

    const a = await openStream('?since=0', bearer(operator));
    const b = await openStream('?since=0', bearer(adminB));
    try {
      const ownB = (await submit(adminB, 'for B')).body as { id: string };
      const ownA = (await submit(operator, 'for A')).body as { id: string };
      await waitFor(() => a.events.some((e) => e.ticketId === ownA.id), 'A to see its ticket');
      await waitFor(() => b.events.some((e) => e.ticketId === ownB.id), 'B to see its ticket');
      const aTickets = await stack.env.prisma.ticket.findMany({
        where: { projectId: DEFAULT_PROJECT.id },
        select: { id: true },
      });
      const ofA = new Set(aTickets.map((t) => t.id));
      expect(b.events.filter((e) => e.ticketId && ofA.has(e.ticketId))).toEqual([]);
      expect(a.events.filter((e) => e.ticketId === ownB.id)).toEqual([]);
    } finally {
      a.ws?.close();
      b.ws?.close();
    }
  });

  it('closes a stream with 4401 once its key is revoked', async () => {
    const viewer = await newKey(adminB, projectB, 'viewer');
    const { ws, status } = await openStream('', bearer(viewer.key));
    expect(status).toBe(101);
    const closed = new Promise<number>((resolve) => ws?.once('close', (code) => resolve(code)));
    await call(adminB, 'DELETE', `/keys/${viewer.id}`);
    expect(await closed).toBe(4401);
  });
});

describe('rate limits', () => {
  it('answers 429 with Retry-After once a key passes its limit, other keys unaffected', async () => {
    const issued = await new ApiKeys(stack.env.prisma).issue({
      projectId: projectB,
      name: 'busy',
      role: 'viewer',
    });
    const statuses: number[] = [];
    for (let i = 0; i < RATE_LIMIT + 3; i++)
      statuses.push((await call(issued.key, 'GET', '/runners')).status);
    expect(statuses.slice(0, RATE_LIMIT).every((s) => s === 200)).toBe(true);
    const over = await call(issued.key, 'GET', '/runners');
    expect(over.status).toBe(429);
    expect((over.body as ErrorBody).error.code).toBe('RATE_LIMITED');
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(over.headers.get('retry-after'))).toBeLessThanOrEqual(60);
    expect((await call(adminB, 'GET', '/runners')).status).toBe(200);
  });
});

describe('drover CLI: whoami, keys and projects', () => {
  const cli = (key: string, ...args: string[]) => drover(stack.baseUrl, key, ...args);
  const parsed = <T>(out: Buffer) => JSON.parse(out.toString('utf8')) as T;

  it('shows the key, issues, lists and revokes keys, and creates a project', async () => {
    const who = await cli(adminB, '--json', 'whoami');
    expect(who.code).toBe(0);
    expect(parsed<{ role: string; project: { slug: string } }>(who.stdout)).toMatchObject({
      role: 'admin',
      project: { slug: 'team-b' },
    });

    const created = await cli(adminB, '--json', 'keys', 'create', 'ci', '--role', 'viewer');
    expect(created.code).toBe(0);
    const key = parsed<IssuedKey>(created.stdout);
    expect(key).toMatchObject({ name: 'ci', role: 'viewer', project: 'team-b' });
    expect((await call(key.key, 'GET', '/tickets')).status).toBe(200);

    const listed = await cli(adminB, 'keys');
    expect(listed.code).toBe(0);
    expect(listed.stdout.toString('utf8')).toContain(key.id);
    expect(listed.stdout.toString('utf8')).not.toContain(key.key);

    expect((await cli(adminB, 'keys', 'revoke', key.id)).code).toBe(0);
    expect((await call(key.key, 'GET', '/tickets')).status).toBe(401);

    const refused = await cli(adminB, 'projects', 'create', 'team-e');
    expect(refused.code).toBe(3);
    expect(refused.stderr).toContain('FORBIDDEN: only an admin key of the operator project');
    const project = await cli(operator, '--json', 'projects', 'create', 'team-e', '--name', 'E');
    expect(project.code).toBe(0);
    expect(parsed<{ project: { slug: string } }>(project.stdout).project.slug).toBe('team-e');

    const badRole = await cli(adminB, 'keys', 'create', 'x', '--role', 'root');
    expect(badRole.code).toBe(3);
    expect(badRole.stderr).toContain('body.role');
  }, 60_000);
});

describe('secret env values through the API', () => {
  it('runs the command with the value but never returns it, in answers, logs or events', async () => {
    const secret = 'tok_5ecret-value-42';
    const stream = await openStream('?since=0', { authorization: `Bearer ${adminB}` });
    try {
      const created = await call(adminB, 'POST', '/tickets', {
        title: 'secret',
        tasks: [
          {
            key: 'uses-it',
            env: { TOKEN: { secret } },
            // The command proves it got the value without the value being in the spec.
            steps: [
              {
                run: `[ "$(printf %s "$TOKEN" | sha256sum | cut -c1-64)" = ${sha256(secret)} ] && echo "token is $TOKEN"`,
              },
            ],
          },
        ],
      });
      expect(created.status).toBe(201);
      expect(JSON.stringify(created.body)).not.toContain(secret);
      const taskId = (created.body as { tasks: { id: string }[] }).tasks[0].id;
      const task = await waitFor(async () => {
        const t = (await call(adminB, 'GET', `/tasks/${taskId}`)).body as {
          status: string;
          spec: { env: Record<string, unknown> };
          runs: { id: string }[];
        };
        return ['SUCCEEDED', 'FAILED'].includes(t.status) && t;
      }, 'the task to end');
      expect(task.status).toBe('SUCCEEDED');
      expect(task.spec.env.TOKEN).toEqual({ secret: true });
      expect(JSON.stringify(task)).not.toMatch(/sealed|tok_5ecret/);

      const logs = await call(adminB, 'GET', `/runs/${task.runs[0].id}/logs`);
      const text = (logs.body as { lines: { text: string }[] }).lines.map((l) => l.text);
      expect(text).toContain('token is ***');
      expect(JSON.stringify(stream.events)).not.toContain(secret);

      const stored = await stack.env.prisma.task.findUniqueOrThrow({ where: { id: taskId } });
      expect(JSON.stringify(stored.spec)).not.toContain(secret);
      expect(JSON.stringify(stored.spec)).toContain('"sealed":"v1.');
    } finally {
      stream.ws?.close();
    }
  });
});
