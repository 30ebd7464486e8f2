import { randomInt } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Client } from 'pg';
import { waitFor } from '@drover/testing';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// A cancel races the scheduler's dispatch of the ticket it cancels: whenever it
// lands, before, during or after the dispatch transaction, it must win.

let stack: InProcessStack;
let db: Client;

beforeAll(async () => {
  stack = await startInProcessStack({ SCHEDULER_POLL_MS: '20', RUNNER_SLOTS: '8' });
  db = new Client({ connectionString: stack.env.env.DATABASE_URL });
  await db.connect();
}, 60_000);

afterAll(async () => {
  await db?.end();
  await stack?.stop();
});

async function call(path: string, body?: unknown) {
  const res = await fetch(`${stack.baseUrl}${path}`, {
    method: 'POST',
    headers: { ...stack.auth, 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  const answer: unknown = await res.json();
  return { status: res.status, body: answer };
}

/** Submits a ticket of three tasks that would each run for 5 s; its id. */
async function submitSleepers(title: string): Promise<string> {
  const submitted = await call('/tickets', {
    title,
    tasks: ['a', 'b', 'c'].map((key) => ({ key, steps: [{ run: 'sleep 5' }] })),
  });
  expect(submitted).toMatchObject({ status: 201 });
  return (submitted.body as { id: string }).id;
}

/** A backend of this test's database waiting on a lock of the kind `event` (pg_stat_activity). */
async function waiting(events: string[], query = '%'): Promise<boolean> {
  const { rows } = await db.query(
    `SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
       AND wait_event_type = 'Lock' AND wait_event = ANY($1) AND query LIKE $2`,
    [events, query],
  );
  return rows.length > 0;
}

/** Once every run has ended: each task and run CANCELLED, no run started after `answeredAt`. */
async function expectCancelled(ticketIds: string[], answeredAt: Map<string, Date>) {
  const { prisma } = stack.env;
  await waitFor(
    async () =>
      (await prisma.run.count({
        where: { ticketId: { in: ticketIds }, status: { in: ['DISPATCHED', 'RUNNING'] } },
      })) === 0,
    'every run of the cancelled tickets to end',
    20_000,
  );
  const where = { ticketId: { in: ticketIds } };
  const tasks = await prisma.task.findMany({ where, select: { key: true, status: true } });
  expect(tasks).toHaveLength(3 * ticketIds.length);
  expect(tasks.filter((t) => t.status !== 'CANCELLED')).toEqual([]);
  const runs = await prisma.run.findMany({
    where,
    select: { ticketId: true, status: true, startedAt: true },
  });
  expect(runs.filter((r) => r.status !== 'CANCELLED')).toEqual([]);
  const late = runs.filter(
    (r) => r.startedAt && r.startedAt > (answeredAt.get(r.ticketId) ?? new Date(0)),
  );
  expect(late).toEqual([]);
  const tickets = await prisma.ticket.findMany({ where: { id: { in: ticketIds } } });
  expect(tickets.filter((t) => t.status !== 'CANCELLED')).toEqual([]);
}

describe('cancelling a ticket while it is dispatched', () => {
  it('wins over a dispatch that has marked the tasks DISPATCHED but not yet written their runs', async () => {
    // Holding SHARE on run stops the dispatch between its two writes: tasks
    // DISPATCHED (row-locked), runs not inserted. The cancel arrives right then.
    await db.query('BEGIN');
    await db.query('LOCK TABLE run IN SHARE MODE');
    let cancelling: ReturnType<typeof call> | undefined;
    try {
      const id = await submitSleepers('caught mid-dispatch');
      await waitFor(() => waiting(['relation'], 'INSERT INTO "public"."run"%'), 'the dispatch');
      cancelling = call(`/tickets/${id}/cancel`);
      // The cancel waits for the dispatch: on its tasks' rows, or on the dispatch lock.
      await waitFor(() => waiting(['transactionid', 'tuple', 'advisory']), 'the cancel to wait');
      await db.query('COMMIT');
      const cancel = await cancelling;
      const answeredAt = new Map([[id, new Date()]]);
      expect(cancel).toMatchObject({ status: 200 });
      await expectCancelled([id], answeredAt);
    } finally {
      await db.query('ROLLBACK').catch(() => undefined);
      await cancelling?.catch(() => undefined);
    }
  }, 40_000);

  it('answers every cancel 2xx and no task runs, 0 to 70 ms after submission', async () => {
    const answeredAt = new Map<string, Date>();
    const refused = [];
    for (let i = 0; i < 10; i++) {
      const id = await submitSleepers(`race ${i}`);
      await delay(randomInt(0, 71));
      const cancel = await call(`/tickets/${id}/cancel`);
      answeredAt.set(id, new Date());
      if (cancel.status !== 200) refused.push({ id, ...cancel });
    }
    expect(refused).toEqual([]);
    await expectCancelled([...answeredAt.keys()], answeredAt);
  }, 60_000);
});
