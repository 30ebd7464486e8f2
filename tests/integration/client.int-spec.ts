import WebSocket from 'ws';
import { DroverApiError, DroverClient, DroverNetworkError, type StreamEvent } from '@drover/client';
import { DEFAULT_PROJECT } from '@drover/workflow';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// @drover/client against the real gateway, for what the CLI does not use: a
// ticket as JSON or as a document's text, paging, the event stream by token,
// health and metrics, and how errors come back. (The CLI's tests cover the rest.)

let stack: InProcessStack;
let drover: DroverClient;

beforeAll(async () => {
  // No runner: nothing here runs; tickets wait READY.
  stack = await startInProcessStack({}, { runner: false });
  drover = new DroverClient({ baseUrl: stack.baseUrl, apiKey: stack.apiKey });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
}, 30_000);

const task = { key: 'only', steps: [{ run: 'true' }] };

describe(DroverClient.name, () => {
  it('submits a ticket as JSON and as a work order, with an Idempotency-Key, and reads it back', async () => {
    const first = await drover.createTicket(
      { title: 'client json', tasks: [task] },
      { idempotencyKey: 'client-json-1' },
    );
    const again = await drover.createTicket(
      { title: 'client json', tasks: [task] },
      { idempotencyKey: 'client-json-1' },
    );
    expect(again.id).toBe(first.id);
    const document =
      '---\ntitle: client work order\nagent: command\nsteps:\n  - run: "true"\n---\nDo it.\n';
    const ordered = await drover.createTicket({ document, format: 'markdown' });
    expect(ordered).toMatchObject({ title: 'client work order', project: 'default' });
    const read = await drover.getTicket(ordered.id);
    expect(read.tasks.map((t) => t.agent)).toEqual(['command']);
    // Timestamps come as sent: ISO 8601 text.
    expect(read.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('pages through tickets with the query it is given', async () => {
    const page = await drover.listTickets({ limit: 1 });
    expect(page.items).toHaveLength(1);
    expect(page.nextCursor).not.toBeNull();
    const next = await drover.listTickets({ limit: 1, cursor: page.nextCursor ?? undefined });
    expect(next.items[0].id).not.toBe(page.items[0].id);
  });

  it('rejects with DroverApiError as the API stated it: status, code, message, details', async () => {
    const document =
      '---\ntitle: bad\nagent: command\npriority: high\nsteps:\n  - run: "true"\n---\n';
    const refused = await drover
      .createTicket({ document, format: 'markdown' })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DroverApiError);
    expect(refused).toMatchObject({
      status: 422,
      code: 'INVALID_DOCUMENT',
      details: [expect.objectContaining({ path: 'priority', line: 4 })],
    });
    const missing = await drover.getTask(DEFAULT_PROJECT.id).catch((e: unknown) => e);
    expect(missing).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    const anonymous = new DroverClient({ baseUrl: stack.baseUrl });
    await expect(anonymous.getMe()).rejects.toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
  });

  it('rejects with DroverNetworkError when nothing answers', async () => {
    const nowhere = new DroverClient({ baseUrl: 'http://127.0.0.1:9', apiKey: stack.apiKey });
    const error = await nowhere.getMe().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DroverNetworkError);
    expect((error as Error).message).toMatch(
      /^cannot reach the Drover API at http:\/\/127\.0\.0\.1:9: /,
    );
  });

  it('opens the event stream with a token at eventsUrl, as a browser would (no header)', async () => {
    const ticket = await drover.createTicket({ title: 'client events', tasks: [task] });
    const { token } = await drover.createEventToken();
    const ws = new WebSocket(drover.eventsUrl({ ticket: ticket.id, since: 0, token }));
    const first = await new Promise<StreamEvent>((resolve, reject) => {
      ws.once('message', (raw: Buffer) => resolve(JSON.parse(raw.toString('utf8')) as StreamEvent));
      ws.once('error', reject);
    });
    ws.close();
    expect(first).toMatchObject({ ticketId: ticket.id });
  });

  it('reads its project, its health and its metrics', async () => {
    const me = await drover.getMe();
    expect(await drover.getProject(me.project.id)).toEqual(me.project);
    const health = await drover.getHealth();
    expect(health).toMatchObject({ status: 'ok', down: [] });
    expect(await drover.getMetrics()).toMatch(/^# HELP /m);
  });
});
