import WebSocket from 'ws';
import type { StreamEvent } from '@drover/contracts';
import { waitFor } from '@drover/testing';
import { drover } from './support/cli';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// A run whose log outlasts its end: its batches are still being stored when
// its finish report arrives. The task must not be final before they all are.
const LINES = 100_000;

let stack: InProcessStack;

beforeAll(async () => {
  // Leases of 3 x 5 s: storing 100,000 lines on a busy machine delays heartbeats
  // past the default 3 x 1 s, and a lost lease is not what this file tests.
  stack = await startInProcessStack({ RUNNER_HEARTBEAT_MS: '5000' });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
});

async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const headers = {
    ...stack.auth,
    'content-type': 'application/json',
    ...(init.headers as Record<string, string> | undefined),
  };
  const res = await fetch(`${stack.baseUrl}${path}`, { ...init, headers });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

/** The ticket's events on the WebSocket stream, from the first, in order. */
function follow(ticketId: string) {
  const ws = new WebSocket(
    `${stack.baseUrl.replace('http', 'ws')}/events?ticket=${ticketId}&since=0`,
    { headers: stack.auth },
  );
  const events: StreamEvent[] = [];
  ws.on('message', (raw: Buffer) => events.push(JSON.parse(raw.toString('utf8')) as StreamEvent));
  return { ws, events };
}

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT', 'BLOCKED', 'SKIPPED']);

const statusOf = (e: StreamEvent) => (e as StreamEvent<'task.changed'>).data.status;

describe('a task final only with its whole log', () => {
  it(`stores all ${LINES} lines of a run before its task is final, and logs -f prints them`, async () => {
    const { id: ticketId } = await call<{ id: string }>('/tickets', {
      method: 'POST',
      body: JSON.stringify({
        title: 'long log',
        tasks: [{ key: 'seq', steps: [{ run: `seq 1 ${LINES}` }] }],
      }),
    });
    const { ws, events } = follow(ticketId);
    try {
      const taskId = await waitFor(async () => {
        const ticket = await call<{ tasks: { id: string }[] }>(`/tickets/${ticketId}`);
        return ticket.tasks[0]?.id;
      }, 'the task');
      const followed = drover(stack.baseUrl, stack.apiKey, 'logs', taskId, '-f');

      // Task status and stored lines read in one statement: one snapshot, the
      // first in which the task is final.
      const atFinal = await waitFor(
        async () => {
          const [row] = await stack.env.prisma.$queryRaw<{ status: string; stored: number }[]>`
            SELECT t.status::text AS status,
              (SELECT COALESCE(sum(c.line_count), 0)::int FROM log_chunk c
               JOIN run r ON r.id = c.run_id WHERE r.task_id = t.id) AS stored
            FROM task t WHERE t.id = ${taskId}::uuid`;
          return row && FINAL.has(row.status) ? row : undefined;
        },
        'the task to be final',
        180_000,
        5,
      );
      const task = await call<{
        status: string;
        runs: { id: string; logLines: number; lostLogLines?: number | null }[];
      }>(`/tasks/${taskId}`);
      expect(task.status).toBe('SUCCEEDED');
      expect(task.runs).toHaveLength(1);
      const [run] = task.runs;
      expect(run.logLines).toBeGreaterThan(LINES);
      expect({ storedWhenFinal: atFinal.stored }).toEqual({ storedWhenFinal: run.logLines });
      expect(run.lostLogLines).toBeNull();

      // On the stream, no line comes after the task's final event.
      // One past the final event (waitFor takes 0 as an answer: not found is undefined).
      const final = await waitFor(() => {
        const at = events.findIndex((e) => e.type === 'task.changed' && FINAL.has(statusOf(e)));
        return at < 0 ? undefined : at + 1;
      }, 'the final task.changed on the stream');
      const linesAfter = events.slice(final).filter((e) => e.type === 'log.appended');
      expect(linesAfter).toEqual([]);

      const cli = await followed;
      expect(cli.code).toBe(0);
      const printed = cli.stdout
        .toString('utf8')
        .split('\n')
        .filter((l) => /^\d+$/.test(l));
      expect(printed.length).toBe(LINES);
      expect(printed.every((l, i) => l === String(i + 1))).toBe(true);
    } finally {
      ws.close();
    }
  }, 240_000);
});
