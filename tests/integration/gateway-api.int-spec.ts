import WebSocket from 'ws';
import { waitFor } from '@drover/testing';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

interface ErrorBody {
  error: { code: string; message: string; details?: { path: string; message: string }[] };
}
interface TicketPage {
  items: { id: string; status: string; createdAt: string }[];
  nextCursor: string | null;
}

let stack: InProcessStack;

beforeAll(async () => {
  stack = await startInProcessStack();
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function call(path: string, init: RequestInit = {}) {
  const headers = { ...stack.auth, ...(init.headers as Record<string, string> | undefined) };
  const res = await fetch(`${stack.baseUrl}${path}`, { ...init, headers });
  return { status: res.status, body: await res.json() };
}

const post = (body: string, contentType = 'application/json') =>
  call('/tickets', { method: 'POST', headers: { 'content-type': contentType }, body });

const ticket = (title: string, tasks: object[] = [{ key: 'only', steps: [{ run: 'echo hi' }] }]) =>
  post(JSON.stringify({ title, tasks }));

async function waitForStatus(id: string, status: string) {
  await waitFor(
    async () => ((await call(`/tickets/${id}`)).body as { status: string }).status === status,
    `ticket ${id} to be ${status}`,
    20_000,
  );
}

/** The HTTP status the server answers a WebSocket upgrade with (101 when accepted). */
function upgradeStatus(path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${stack.baseUrl.replace('http', 'ws')}${path}`, {
      headers: stack.auth,
    });
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', reject);
  });
}

describe('gateway API', () => {
  it('serves an OpenAPI document naming every route', async () => {
    const { status, body } = await call('/docs-json');
    expect(status).toBe(200);
    const doc = body as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/events/token',
      '/experiments',
      '/experiments/{id}',
      '/health',
      '/keys/{id}',
      '/me',
      '/metrics',
      '/projects',
      '/projects/{id}',
      '/projects/{id}/keys',
      '/providers',
      '/runners',
      '/runs/{id}/artifacts',
      '/runs/{id}/artifacts/{name}',
      '/runs/{id}/diff',
      '/runs/{id}/logs',
      '/tasks/{id}',
      '/tasks/{id}/approve',
      '/tasks/{id}/cancel',
      '/tasks/{id}/input',
      '/tasks/{id}/reject',
      '/tasks/{id}/rerun',
      '/tickets',
      '/tickets/{id}',
      '/tickets/{id}/cancel',
      '/tickets/{id}/rerun',
    ]);
  });

  it('declares every path parameter, and no header as required that is not', async () => {
    interface Parameter {
      name: string;
      in: string;
      required?: boolean;
    }
    const { body } = await call('/docs-json');
    const doc = body as { paths: Record<string, Record<string, { parameters?: Parameter[] }>> };
    const problems: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      const inPath = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const [method, operation] of Object.entries(operations)) {
        const parameters = operation.parameters ?? [];
        for (const name of inPath) {
          if (!parameters.some((p) => p.in === 'path' && p.name === name)) {
            problems.push(`${method} ${path}: path parameter ${name} undeclared`);
          }
        }
        const headers = parameters.filter((p) => p.in === 'header');
        for (const header of headers) {
          if (header.required) problems.push(`${method} ${path}: header ${header.name} required`);
        }
        const names = headers.map((h) => h.name.toLowerCase());
        if (new Set(names).size !== names.length) {
          problems.push(`${method} ${path}: a header declared twice`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it.each([
    ['malformed JSON', 400, '{"title": ', 'application/json', 'BAD_REQUEST', /not valid JSON/],
    [
      'a non-JSON body',
      415,
      'title=x',
      'text/plain',
      'UNSUPPORTED_MEDIA_TYPE',
      /application\/json/,
    ],
    ['an array', 422, '[]', 'application/json', 'INVALID_REQUEST', /body: .*object/],
    [
      'no tasks',
      422,
      '{"title":"t","tasks":[]}',
      'application/json',
      'INVALID_REQUEST',
      /body\.tasks/,
    ],
    [
      'an unknown field',
      422,
      '{"title":"t","owner":"me","tasks":[{"key":"a","steps":[{"run":"x"}]}]}',
      'application/json',
      'INVALID_REQUEST',
      /body\.owner: unknown field/,
    ],
    [
      "another project than the key's",
      403,
      '{"title":"t","project":"nope","tasks":[{"key":"a","steps":[{"run":"x"}]}]}',
      'application/json',
      'FORBIDDEN',
      /belongs to project "default"/,
    ],
  ])('answers %s with %i and writes nothing', async (_what, status, body, type, code, message) => {
    const before = await stack.env.prisma.ticket.count();
    const res = await post(body, type);
    expect(res.status).toBe(status);
    const { error } = res.body as ErrorBody;
    expect(error.code).toBe(code);
    expect(error.message).toMatch(message);
    expect(await stack.env.prisma.ticket.count()).toBe(before);
  });

  it('accepts a 10,000-task graph in one submission', async () => {
    const tasks = Array.from({ length: 10_000 }, (_, i) => ({
      key: `task-${i}`,
      depends_on: i ? [`task-${i - 1}`] : [],
      steps: [{ run: 'echo hello world' }],
    }));
    const res = await post(JSON.stringify({ title: 'large', tasks }));
    expect(res.status).toBe(201);
    const created = res.body as { id: string; tasks: { key: string; status: string }[] };
    expect(created.tasks).toHaveLength(10_000);
    // The answer is read after the ticket is written: the scheduler of this stack may already
    // have dispatched the one task without dependencies; every other task waits on its own.
    const notPending = created.tasks.filter((t) => t.status !== 'PENDING');
    expect(notPending.map((t) => t.key)).toEqual(['task-0']);
    expect(['READY', 'DISPATCHED']).toContain(notPending[0]?.status);
    expect(await stack.env.prisma.taskDependency.count({ where: { ticketId: created.id } })).toBe(
      9_999,
    );
  }, 60_000);

  it('refuses a 10,000-task graph closed into one cycle, naming it, and writes nothing', async () => {
    const tasks = Array.from({ length: 10_000 }, (_, i) => ({
      key: `task-${i}`,
      depends_on: [`task-${(i + 9_999) % 10_000}`],
      steps: [{ run: 'true' }],
    }));
    const before = await stack.env.prisma.task.count();
    const res = await post(JSON.stringify({ title: 'ring', tasks }));
    expect(res.status).toBe(422);
    const { error } = res.body as ErrorBody;
    expect(error.code).toBe('INVALID_GRAPH');
    expect(error.message).toMatch(/^dependency cycle: (task-\d+ -> ){10000}task-\d+$/);
    expect(await stack.env.prisma.task.count()).toBe(before);
  }, 60_000);

  it('returns the first ticket when a submission is repeated with the same Idempotency-Key', async () => {
    const body = JSON.stringify({
      title: 'idempotent',
      tasks: [{ key: 'once', steps: [{ run: 'true' }] }],
    });
    const send = (key: string, payload = body) =>
      call('/tickets', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        body: payload,
      });
    const key = `retry-${Date.now()}`;

    const [first, second, third] = await Promise.all([send(key), send(key), send(key)]);

    expect([first.status, second.status, third.status]).toEqual([201, 201, 201]);
    const id = (first.body as { id: string }).id;
    expect((second.body as { id: string }).id).toBe(id);
    expect((third.body as { id: string }).id).toBe(id);
    const page = (await call('/tickets?limit=500')).body as TicketPage;
    expect(page.items.filter((t) => t.id === id)).toHaveLength(1);
    expect(await stack.env.prisma.ticket.count({ where: { title: 'idempotent' } })).toBe(1);

    const reused = await send(key, body.replace('idempotent', 'something else'));
    expect(reused.status).toBe(409);
    expect((reused.body as ErrorBody).error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    const bad = await send('has space');
    expect(bad.status).toBe(400);
    expect((bad.body as ErrorBody).error.code).toBe('INVALID_IDEMPOTENCY_KEY');
  });

  it('refuses a body over the size limit with 413', async () => {
    const res = await post(`{"title":"${'x'.repeat(11 * 1024 * 1024)}"}`);
    expect(res.status).toBe(413);
    expect((res.body as ErrorBody).error.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('refuses a JSON body with a key twice in one object, naming it and where, writing nothing', async () => {
    const before = await stack.env.prisma.ticket.count();
    const body =
      '{"title":"a",\n "tasks":[{"key":"k","steps":[{"run":"echo"}],"key":"j"}],\n "title":"b"}';
    const first = body.indexOf('"key":"j"');
    const expected = {
      path: 'body.tasks.0.key',
      message: 'duplicate key "key" (first on line 2)',
      line: 2,
      column: first - body.indexOf('\n'),
    };
    const res = await post(body);
    expect(res.status).toBe(422);
    expect(res.body).toEqual({
      error: {
        code: 'INVALID_REQUEST',
        message: `invalid body: body.tasks.0.key: duplicate key "key" (first on line 2) at line 2, column ${expected.column}`,
        details: [expected],
      },
    });
    // In any charset JSON may come in.
    const utf16 = await call('/tickets', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-16le' },
      body: Buffer.from('{"title":"a","title":"b","tasks":[]}', 'utf16le'),
    });
    expect(utf16).toMatchObject({
      status: 422,
      body: { error: { details: [{ path: 'body.title' }] } },
    });
    expect(await stack.env.prisma.ticket.count()).toBe(before);
  });

  it('pages through tickets newest first and filters them by status', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(((await ticket(`page ${i}`)).body as { id: string }).id);
    for (const id of ids) await waitForStatus(id, 'SUCCEEDED');

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const query: string = cursor ? `&cursor=${cursor}` : '';
      const page = (await call(`/tickets?limit=2&status=SUCCEEDED${query}`)).body as TicketPage;
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((t) => t.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((id) => ids.includes(id))).toEqual([...ids].reverse());

    const running = (await call('/tickets?status=RUNNING')).body as TicketPage;
    expect(running.items.filter((t) => ids.includes(t.id))).toEqual([]);
  });

  it("lists each ticket's tasks by status", async () => {
    const { body } = await ticket('counted', [
      { key: 'ok', steps: [{ run: 'true' }] },
      { key: 'fails', steps: [{ run: 'exit 3' }] },
      { key: 'after', depends_on: ['fails'], steps: [{ run: 'true' }] },
      { key: 'also-ok', steps: [{ run: 'true' }] },
    ]);
    const { id } = body as { id: string };
    await waitForStatus(id, 'FAILED');
    const page = (await call('/tickets?limit=10')).body as {
      items: { id: string; taskCount: number; taskCounts: Record<string, number> }[];
    };
    const row = page.items.find((t) => t.id === id);
    expect(row).toMatchObject({
      taskCount: 4,
      taskCounts: { SUCCEEDED: 2, FAILED: 1, BLOCKED: 1 },
    });
    expect(Object.keys(row?.taskCounts ?? {}).sort()).toEqual(['BLOCKED', 'FAILED', 'SUCCEEDED']);
  });

  it.each([
    ['/tickets?limit=0', 'query.limit'],
    ['/tickets?limit=100000', 'query.limit'],
    ['/tickets?status=DONE', 'query.status'],
    ['/tickets?sort=asc', 'query.sort'],
    ['/tickets/not-a-uuid', 'path.id'],
    ['/tasks/123', 'path.id'],
    ['/runs/x/logs', 'path.id'],
    ['/runs/00000000-0000-4000-8000-000000000000/logs?after=-1', 'query.after'],
  ])('answers GET %s with 400 naming %s', async (path, field) => {
    const res = await call(path);
    expect(res.status).toBe(400);
    expect((res.body as ErrorBody).error.details?.map((d) => d.path)).toContain(field);
  });

  it('answers 400 for a cursor it did not issue', async () => {
    const res = await call('/tickets?cursor=bm90LWEtY3Vyc29y');
    expect(res.status).toBe(400);
    expect((res.body as ErrorBody).error.code).toBe('INVALID_CURSOR');
  });

  it.each(['/tickets', '/tasks', '/runs'])(
    'answers 404 for an unknown id under %s',
    async (base) => {
      const id = '7b0e3f1a-0d7e-4a53-9a3c-2f1d6f9e8b11';
      const res = await call(base === '/runs' ? `${base}/${id}/logs` : `${base}/${id}`);
      expect(res.status).toBe(404);
      expect((res.body as ErrorBody).error.message).toContain(id);
    },
  );

  it('returns a run log page by page with consecutive line numbers', async () => {
    const lines = 25;
    const res = await ticket('logs', [{ key: 'talk', steps: [{ run: `seq 1 ${lines}` }] }]);
    const created = res.body as { id: string; tasks: { id: string }[] };
    await waitForStatus(created.id, 'SUCCEEDED');
    const task = (await call(`/tasks/${created.tasks[0].id}`)).body as {
      runs: { id: string; status: string; exitCode: number; logLines: number }[];
    };
    expect(task.runs).toHaveLength(1);
    expect(task.runs[0]).toMatchObject({ status: 'SUCCEEDED', exitCode: 0 });

    const printed: string[] = [];
    const numbers: number[] = [];
    let after: number | null = 0;
    while (after !== null) {
      const page = (await call(`/runs/${task.runs[0].id}/logs?after=${after}&limit=7`)).body as {
        lines: { n: number; stream: string; text: string }[];
        nextAfter: number | null;
      };
      expect(page.lines.length).toBeLessThanOrEqual(7);
      numbers.push(...page.lines.map((l) => l.n));
      printed.push(...page.lines.filter((l) => l.stream === 'stdout').map((l) => l.text));
      after = page.nextAfter;
    }
    expect(numbers).toEqual([...numbers.keys()]);
    expect(numbers).toHaveLength(task.runs[0].logLines);
    expect(printed).toEqual(Array.from({ length: lines }, (_, i) => String(i + 1)));
  });

  it.each([
    ['/events?since=-1', 400],
    ['/events?since=abc', 400],
    ['/events?ticket=not-a-uuid', 400],
    ['/events?topic=x', 400],
    ['/elsewhere', 404],
    ['/events?since=0', 101],
  ])('answers a WebSocket upgrade on %s with %i', async (path, status) => {
    expect(await upgradeStatus(path)).toBe(status);
  });

  it('answers an unknown route with 404 in the error shape', async () => {
    const res = await call('/nowhere');
    expect(res.status).toBe(404);
    expect((res.body as ErrorBody).error.code).toBe('NOT_FOUND');
  });
});
