import { randomBytes } from 'node:crypto';
import { waitFor } from '@drover/testing';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// Work orders, pipelines, approval gates and input requests through the HTTP API,
// run for real by the stack's runner (process sandbox).

interface Task {
  id: string;
  key: string;
  status: string;
  reason: string | null;
  phase: string | null;
}
interface Ticket {
  id: string;
  status: string;
  description: string | null;
  labels: string[];
  tasks: Task[];
}
interface Detail {
  path: string;
  message: string;
  line?: number;
  column?: number;
}
interface ErrorAnswer {
  error: { code: string; message: string; details?: Detail[] };
}

let stack: InProcessStack;

beforeAll(async () => {
  stack = await startInProcessStack({ DROVER_SECRETS_KEY: randomBytes(32).toString('base64') });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function send(
  path: string,
  init: { method?: string; body?: string | FormData; type?: string } = {},
) {
  const res = await fetch(`${stack.baseUrl}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { ...stack.auth, ...(init.type ? { 'content-type': init.type } : {}) },
    body: init.body,
  });
  const body: unknown = await res.json();
  return { status: res.status, body };
}

const post = (path: string, body: unknown) =>
  send(path, { body: JSON.stringify(body), type: 'application/json' });

async function ticket(id: string): Promise<Ticket> {
  return (await send(`/tickets/${id}`)).body as Ticket;
}

function taskOf(t: Ticket, key: string): Task {
  const task = t.tasks.find((x) => x.key === key);
  if (!task) throw new Error(`no task ${key}`);
  return task;
}

async function waitForTask(ticketId: string, key: string, status: string): Promise<Task> {
  return waitFor(
    async () => {
      const task = taskOf(await ticket(ticketId), key);
      return task.status === status ? task : undefined;
    },
    `task ${key} ${status}`,
    30_000,
  );
}

async function logsOf(taskId: string): Promise<string> {
  const task = (await send(`/tasks/${taskId}`)).body as { runs: { id: string }[] };
  const texts: string[] = [];
  for (const run of task.runs) {
    const logs = (await send(`/runs/${run.id}/logs`)).body as { lines: { text: string }[] };
    texts.push(...logs.lines.map((l) => l.text));
  }
  return texts.join('\n');
}

const WORK_ORDER = `---
title: Say hello
agent: command
steps:
  - run: echo "hello from a work order"
labels: [demo, greeting]
priority: 3
---
Prints a greeting. The body of a work order for a non-CLI agent is its description.
`;

describe('POST /tickets with documents', () => {
  it('takes a Markdown work order as text/markdown and runs it', async () => {
    const res = await send('/tickets', { body: WORK_ORDER, type: 'text/markdown' });
    expect(res.status).toBe(201);
    const created = res.body as Ticket;
    expect(created).toMatchObject({ labels: ['demo', 'greeting'] });
    expect(created.description).toMatch(/^Prints a greeting/);
    expect(created.tasks.map((t) => t.key)).toEqual(['work-order']);
    await waitForTask(created.id, 'work-order', 'SUCCEEDED');
  });

  it('takes an uploaded work order, keyed by its file name', async () => {
    const form = new FormData();
    form.append('file', new Blob([WORK_ORDER], { type: 'text/markdown' }), 'say-hello.md');
    const res = await send('/tickets', { body: form });
    expect(res.status).toBe(201);
    expect((res.body as Ticket).tasks.map((t) => t.key)).toEqual(['say-hello']);
  });

  it('names the field and the line of a bad work order, and writes nothing', async () => {
    const before = await stack.env.prisma.ticket.count();
    const bad = WORK_ORDER.replace('priority: 3', 'priority: high\nmax_iteration: 2');
    const res = await send('/tickets', { body: bad, type: 'text/markdown' });
    expect(res.status).toBe(422);
    const { error } = res.body as ErrorAnswer;
    expect(error.code).toBe('INVALID_DOCUMENT');
    expect(error.details).toEqual([
      expect.objectContaining({ path: 'priority', line: 7 }),
      expect.objectContaining({
        path: 'max_iteration',
        line: 8,
        message: 'unknown field "max_iteration" (did you mean "max_iterations"?)',
      }),
    ]);
    expect(error.message).toContain('line 7: priority');
    expect(await stack.env.prisma.ticket.count()).toBe(before);
  });

  it('names the line of a bad field deep in a YAML ticket', async () => {
    const yaml = [
      'title: a pipeline',
      'tasks:',
      '  - key: lint',
      '    steps:',
      '      - run: npm run lint',
      '  - key: test',
      '    depends_on: [lint]',
      '    steps:',
      '      - run: 12',
    ].join('\n');
    const res = await send('/tickets', { body: yaml, type: 'application/yaml' });
    expect(res.status).toBe(422);
    expect((res.body as ErrorAnswer).error.details).toEqual([
      expect.objectContaining({ path: 'tasks.1.steps.0.run', line: 9 }),
    ]);
  });

  it('refuses a body in another media type, and a multipart form without the file', async () => {
    const plain = await send('/tickets', { body: WORK_ORDER, type: 'text/plain' });
    expect(plain.status).toBe(415);
    const form = new FormData();
    form.append('other', 'x');
    const missing = await send('/tickets', { body: form });
    expect(missing.status).toBeGreaterThanOrEqual(400);
    expect(missing.status).toBeLessThan(500);
  });
});

describe('pipelines through the API', () => {
  it('skips on a false condition, passes outputs on, waits for approval and runs once approved', async () => {
    const res = await post('/tickets', {
      title: 'release',
      tasks: [
        {
          key: 'lint',
          steps: [{ run: 'echo \'{"error_count": 0, "version": "1.2.3"}\' > "$DROVER_OUTPUT"' }],
        },
        {
          key: 'fix',
          depends_on: ['lint'],
          when: 'steps.lint.output.error_count > 0',
          steps: [{ run: 'echo fixing' }],
        },
        {
          key: 'publish',
          depends_on: ['fix'],
          requires_approval: true,
          steps: [{ run: 'echo "publishing {{ steps.lint.output.version }}"' }],
        },
      ],
    });
    expect(res.status).toBe(201);
    const id = (res.body as Ticket).id;
    const fix = await waitForTask(id, 'fix', 'SKIPPED');
    expect(fix.reason).toBe('when was false: steps.lint.output.error_count > 0');
    const publish = await waitForTask(id, 'publish', 'AWAITING_APPROVAL');

    const approved = await post(`/tasks/${publish.id}/approve`, { comment: 'go' });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({
      status: 'READY',
      approval: { decision: 'approved', comment: 'go', decidedBy: 'in-process' },
    });
    await waitForTask(id, 'publish', 'SUCCEEDED');
    expect(await logsOf(publish.id)).toContain('publishing 1.2.3');
    expect((await ticket(id)).status).toBe('SUCCEEDED');

    const again = await post(`/tasks/${publish.id}/reject`, {});
    expect(again.status).toBe(409);
    expect((again.body as ErrorAnswer).error.code).toBe('NOT_AWAITING_APPROVAL');
  });

  it('refuses a template naming a step that is not upstream, with its path', async () => {
    const res = await post('/tickets', {
      title: 'bad',
      tasks: [
        { key: 'a', steps: [{ run: 'true' }] },
        { key: 'b', steps: [{ run: 'echo {{steps.a.output.x}}' }] },
      ],
    });
    expect(res.status).toBe(422);
    expect((res.body as ErrorAnswer).error).toMatchObject({
      code: 'INVALID_PIPELINE',
      details: [{ path: 'tasks.1.steps.0.run' }],
    });
  });

  it('waits for input a run asks for, and runs again with the answer (secret: never shown)', async () => {
    const ask = JSON.stringify({ name: 'TOKEN', prompt: 'The publish token', secret: true });
    const res = await post('/tickets', {
      title: 'needs a token',
      tasks: [
        {
          key: 'publish',
          steps: [
            {
              run: `if [ -z "$TOKEN" ]; then echo '${ask}' > "$DROVER_REQUEST"; exit 3; fi; echo "token is $TOKEN"`,
            },
          ],
        },
      ],
    });
    expect(res.status).toBe(201);
    const id = (res.body as Ticket).id;
    const waiting = await waitForTask(id, 'publish', 'AWAITING_INPUT');
    expect(waiting.reason).toBe('asks for TOKEN: The publish token');

    const wrong = await post(`/tasks/${waiting.id}/input`, { name: 'OTHER', value: 'x' });
    expect(wrong.status).toBe(422);
    const answered = await post(`/tasks/${waiting.id}/input`, { value: 's3cr3t-token' });
    expect(answered.status).toBe(200);
    await waitForTask(id, 'publish', 'SUCCEEDED');
    const task = await send(`/tasks/${waiting.id}`);
    expect(JSON.stringify(task.body)).not.toContain('s3cr3t-token');
    expect(task.body).toMatchObject({
      spec: { env: { TOKEN: { secret: true } } },
      inputs: [{ name: 'TOKEN', secret: true, value: null, answeredBy: 'in-process' }],
    });
    const logs = await logsOf(waiting.id);
    expect(logs).toContain('token is ***');
    expect(logs).not.toContain('s3cr3t-token');
  });
});

describe('DELETE /tickets/:id', () => {
  it('refuses an open ticket, and deletes a final one with its tasks, runs, logs and events', async () => {
    const res = await post('/tickets', {
      title: 'to clean',
      tasks: [
        { key: 'done', steps: [{ run: 'echo done' }] },
        { key: 'gate', depends_on: ['done'], requires_approval: true, steps: [{ run: 'true' }] },
      ],
    });
    const id = (res.body as Ticket).id;
    await waitForTask(id, 'gate', 'AWAITING_APPROVAL');
    const open = await send(`/tickets/${id}`, { method: 'DELETE' });
    expect(open.status).toBe(409);
    expect((open.body as ErrorAnswer).error.code).toBe('NOT_FINAL');

    expect((await post(`/tickets/${id}/cancel`, {})).status).toBe(200);
    const deleted = await send(`/tickets/${id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ deleted: { ticketId: id, tasks: 2, runs: 1 } });
    expect((await send(`/tickets/${id}`)).status).toBe(404);
    const { prisma } = stack.env;
    expect(await prisma.task.count({ where: { ticketId: id } })).toBe(0);
    expect(await prisma.run.count({ where: { ticketId: id } })).toBe(0);
    // The log lines it published are gone with it (only events still unrelayed stay).
    expect(
      await prisma.event.count({ where: { ticketId: id, subject: { contains: 'log.appended' } } }),
    ).toBe(0);
    expect((await send(`/tickets/${id}`, { method: 'DELETE' })).status).toBe(404);
  });
});
