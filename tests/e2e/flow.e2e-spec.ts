import type { ErrorBody, SubmitTicketInput, TicketStatus } from '@drover/contracts';
import {
  describeEvents,
  EventStreamClient,
  ticketBecame,
  waitFor,
  type ReceivedEvent,
} from '@drover/testing';
import { DroverHttp, ErrorView, type TaskView, type TicketView } from './support/api';
import { useServices } from './support/services';

const TERMINAL_TICKET: readonly TicketStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

// ---------------------------------------------------------------------------

// A test wrapped in logged() that fails makes afterAll print the services' output.
const { services, logged } = useServices();
const http = () => new DroverHttp(services().baseUrl, services().apiKey);

async function submitRefused(ticket: SubmitTicketInput): Promise<ErrorBody> {
  const res = await http().post('/tickets', ticket);
  expect(res.status).toBe(422);
  return ErrorView.parse(res.body).error;
}

function waitForTicketEnd(id: string, timeoutMs = 60_000): Promise<TicketView> {
  const ended = (ticket: TicketView) => TERMINAL_TICKET.includes(ticket.status);
  return http().waitForTicket(id, ended, `ticket ${id} to end`, timeoutMs, 100);
}

/** Every task of the ticket with its runs, by key. */
async function tasksByKey(ticket: TicketView): Promise<Map<string, TaskView>> {
  const tasks = await Promise.all(ticket.tasks.map((t) => http().task(t.id)));
  return new Map(tasks.map((t) => [t.key, t]));
}

function taskNamed(tasks: Map<string, TaskView>, key: string): TaskView {
  const task = tasks.get(key);
  if (!task) throw new Error(`no task "${key}" among ${[...tasks.keys()].join(', ')}`);
  return task;
}

/** The only run of a task, which must have started and finished. */
function onlyRun(task: TaskView): { id: string; startedAt: number; finishedAt: number } {
  expect(task.runs).toHaveLength(1);
  const [run] = task.runs;
  if (!run.startedAt || !run.finishedAt) {
    throw new Error(`run of task "${task.key}" has no start or finish: ${JSON.stringify(run)}`);
  }
  return {
    id: run.id,
    startedAt: Date.parse(run.startedAt),
    finishedAt: Date.parse(run.finishedAt),
  };
}

/** Counts every ticket GET /tickets lists, following the cursor. */
async function countListedTickets(): Promise<number> {
  let count = 0;
  let cursor: string | null = null;
  do {
    const page = await http().ticketsPage(cursor);
    count += page.items.length;
    cursor = page.nextCursor;
  } while (cursor);
  return count;
}

async function tableCounts() {
  const { prisma } = services().env;
  const [tickets, tasks, dependencies, runs] = await Promise.all([
    prisma.ticket.count(),
    prisma.task.count(),
    prisma.taskDependency.count(),
    prisma.run.count(),
  ]);
  return { tickets, tasks, dependencies, runs };
}

function expectStrictlyIncreasing(seqs: readonly number[]): void {
  for (let i = 1; i < seqs.length; i++) {
    if (seqs[i] <= seqs[i - 1]) {
      throw new Error(`seq ${seqs[i]} follows ${seqs[i - 1]} at index ${i}: ${seqs.join(',')}`);
    }
  }
}

function taskSucceeded(key: string): (event: ReceivedEvent) => boolean {
  return (e) => e.type === 'task.changed' && e.data.key === key && e.data.status === 'SUCCEEDED';
}

// ---------------------------------------------------------------------------

describe('Drover end to end', () => {
  it(
    'reports postgres, nats and redis up on GET /health',
    logged(async () => {
      const health = await http().health();
      expect(health.status).toBe('ok');
      expect(health.down).toEqual([]);
      expect(health.checks.postgres.status).toBe('up');
      expect(health.checks.nats.status).toBe('up');
      expect(health.checks.redis.status).toBe('up');
    }),
  );

  it(
    'runs a diamond graph in dependency order',
    logged(async () => {
      const submitted = await http().submit({
        title: 'e2e: diamond',
        tasks: [
          {
            key: 'a',
            steps: [{ run: "echo 'first line'; echo 'second line'; echo 'third line'" }],
          },
          { key: 'b', depends_on: ['a'], steps: [{ run: 'echo b' }] },
          { key: 'c', depends_on: ['a'], steps: [{ run: 'echo c' }] },
          { key: 'd', depends_on: ['b', 'c'], steps: [{ run: 'echo d' }] },
        ],
      });
      expect(submitted.tasks.map((t) => t.key).sort()).toEqual(['a', 'b', 'c', 'd']);

      const ticket = await waitForTicketEnd(submitted.id);
      expect(ticket.status).toBe('SUCCEEDED');
      expect(ticket.tasks.map((t) => [t.key, t.status]).sort()).toEqual([
        ['a', 'SUCCEEDED'],
        ['b', 'SUCCEEDED'],
        ['c', 'SUCCEEDED'],
        ['d', 'SUCCEEDED'],
      ]);

      const tasks = await tasksByKey(ticket);
      for (const task of tasks.values()) {
        expect(task.runs).toEqual([
          expect.objectContaining({ status: 'SUCCEEDED', exitCode: 0, errorClass: null }),
        ]);
      }
      const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((key) => onlyRun(taskNamed(tasks, key)));
      expect(b.startedAt).toBeGreaterThan(a.finishedAt);
      expect(c.startedAt).toBeGreaterThan(a.finishedAt);
      expect(d.startedAt).toBeGreaterThan(b.finishedAt);
      expect(d.startedAt).toBeGreaterThan(c.finishedAt);

      const logs = await http().logs(a.id);
      expect(logs.runId).toBe(a.id);
      expect(logs.lines.filter((l) => l.stream === 'stdout').map((l) => l.text)).toEqual([
        'first line',
        'second line',
        'third line',
      ]);
      expect(logs.lines.map((l) => l.n)).toEqual(logs.lines.map((_, i) => i));
      expect(logs.totalLines).toBe(logs.lines.length);
      expect(logs.nextAfter).toBeNull();
    }),
  );

  it(
    'blocks the dependents of a failed task and still runs independent ones',
    logged(async () => {
      const submitted = await http().submit({
        title: 'e2e: failure blocks dependents',
        tasks: [
          { key: 'a', steps: [{ run: 'echo a' }] },
          { key: 'b', depends_on: ['a'], steps: [{ run: 'echo about to fail; exit 3' }] },
          { key: 'c', depends_on: ['b'], steps: [{ run: 'echo c must never run' }] },
          { key: 'd', depends_on: ['a'], steps: [{ run: 'echo d' }] },
        ],
      });

      const ticket = await waitForTicketEnd(submitted.id);
      expect(ticket.status).toBe('FAILED');
      const tasks = await tasksByKey(ticket);

      expect(taskNamed(tasks, 'a').status).toBe('SUCCEEDED');
      const b = taskNamed(tasks, 'b');
      expect(b.status).toBe('FAILED');
      expect(b.runs).toEqual([
        expect.objectContaining({ status: 'FAILED', exitCode: 3, errorClass: 'AGENT_FAILED' }),
      ]);
      const c = taskNamed(tasks, 'c');
      expect(c.status).toBe('BLOCKED');
      expect(c.runs).toEqual([]);
      const d = taskNamed(tasks, 'd');
      expect(d.status).toBe('SUCCEEDED');
      expect(d.runs).toEqual([expect.objectContaining({ status: 'SUCCEEDED', exitCode: 0 })]);
    }),
  );

  it(
    'misses no event when a WebSocket client reconnects with since',
    logged(async () => {
      const step = (key: string) => ({
        run: `for i in 1 2 3; do echo "${key} tick $i"; sleep 0.3; done`,
      });
      const layer1 = ['l1a', 'l1b'];
      const layer2 = ['l2a', 'l2b'];
      const layer3 = ['l3a', 'l3b'];
      const submitted = await http().submit({
        title: 'e2e: reconnect',
        tasks: [
          ...layer1.map((key) => ({ key, steps: [step(key)] })),
          ...layer2.map((key) => ({ key, depends_on: layer1, steps: [step(key)] })),
          ...layer3.map((key) => ({ key, depends_on: layer2, steps: [step(key)] })),
          { key: 'l4', depends_on: layer3, steps: [step('l4')] },
        ],
      });
      const id = submitted.id;
      const clients: EventStreamClient[] = [];
      const open = async (since: number) => {
        const url = `${services().wsUrl}/events?since=${since}&ticket=${id}`;
        const client = await EventStreamClient.connect(url, services().apiKey);
        clients.push(client);
        return client;
      };
      const layer2Succeeded = (events: readonly ReceivedEvent[]) =>
        layer2.some((key) => events.some(taskSucceeded(key)));

      try {
        // Session 1: from the start of the log, closed once the first layer is done.
        const first = await open(0);
        await first.waitUntil(
          (events) => layer1.every((key) => events.some(taskSucceeded(key))),
          'the first layer to succeed',
        );
        await first.close();
        const lastSeen = first.lastSeq();

        // While nobody listens, the ticket moves on (seen through HTTP only).
        await waitFor(
          async () => {
            const ticket = await http().ticket(id);
            return ticket.tasks.some((t) => layer2.includes(t.key) && t.status === 'SUCCEEDED');
          },
          'a second-layer task to succeed while disconnected',
          60_000,
          100,
        );

        // Session 2: resumes after the last event seen, until the ticket succeeds.
        const second = await open(lastSeen);
        await second.waitForEvent(ticketBecame('SUCCEEDED'), 'the ticket to succeed', 60_000);

        // The premise: session 2 had to replay events that happened while disconnected.
        expect(layer2Succeeded(first.events)).toBe(false);
        expect(layer2Succeeded(second.events)).toBe(true);
        expect(second.events[0]?.seq).toBeGreaterThan(lastSeen);

        // Session 3: the whole ticket from the start, after it ended.
        const third = await open(0);
        await third.waitForEvent(ticketBecame('SUCCEEDED'), 'the ticket to succeed (replay)');
        // Both are live now: let them agree on the newest event before comparing.
        await second.waitUntil(() => second.lastSeq() >= third.lastSeq(), "session 3's last seq");
        await third.waitUntil(() => third.lastSeq() >= second.lastSeq(), "session 2's last seq");

        const union = [...first.events, ...second.events];
        const context =
          `session 1: ${describeEvents(first.events)}\n` +
          `session 2: ${describeEvents(second.events)}\n` +
          `session 3: ${describeEvents(third.events)}`;
        try {
          expectStrictlyIncreasing(union.map((e) => e.seq));
          expectStrictlyIncreasing(third.seqs());
          expect(union.map((e) => e.seq)).toEqual(third.seqs());
          expect(union).toEqual(third.events);
        } catch (error) {
          throw new Error(`${(error as Error).message}\n${context}`);
        }
        expect(new Set(union.map((e) => e.seq)).size).toBe(union.length);
        expect(union.every((e) => e.ticketId === id)).toBe(true);
        expect(union.filter(ticketBecame('SUCCEEDED'))).toHaveLength(1);
        expect(clients.flatMap((c) => c.problems)).toEqual([]);
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    }),
  );

  it(
    'refuses a cyclic ticket with 422 naming the cycle and writes nothing',
    logged(async () => {
      const listedBefore = await countListedTickets();
      const countsBefore = await tableCounts();

      const error = await submitRefused({
        title: 'e2e: cycle',
        tasks: [
          { key: 'a', depends_on: ['c'], steps: [{ run: 'echo a' }] },
          { key: 'b', depends_on: ['a'], steps: [{ run: 'echo b' }] },
          { key: 'c', depends_on: ['b'], steps: [{ run: 'echo c' }] },
        ],
      });
      expect(error.code).toBe('INVALID_GRAPH');
      const chain = /[a-z0-9_-]+(?: -> [a-z0-9_-]+)+/.exec(error.message)?.[0];
      if (!chain) throw new Error(`no "x -> y" cycle in the message: ${error.message}`);
      const keys = chain.split(' -> ');
      expect(keys).toHaveLength(4);
      expect(keys[3]).toBe(keys[0]);
      expect(keys.slice(0, 3).sort()).toEqual(['a', 'b', 'c']);
      // "x -> y" reads "y waits for x": each step of the chain is a declared dependency.
      const dependsOn: Record<string, string> = { a: 'c', b: 'a', c: 'b' };
      for (let i = 0; i < 3; i++) expect(dependsOn[keys[i + 1]]).toBe(keys[i]);

      expect(await countListedTickets()).toBe(listedBefore);
      expect(await tableCounts()).toEqual(countsBefore);
    }),
  );

  it(
    'refuses a dependency on an unknown task with 422 naming the missing key',
    logged(async () => {
      const countsBefore = await tableCounts();
      const error = await submitRefused({
        title: 'e2e: unknown dependency',
        tasks: [
          { key: 'build', steps: [{ run: 'echo build' }] },
          { key: 'deploy', depends_on: ['build', 'no-such-task'], steps: [{ run: 'echo go' }] },
        ],
      });
      expect(error.code).toBe('INVALID_GRAPH');
      expect(error.message).toContain('"no-such-task"');
      expect(error.details?.map((d) => d.path)).toEqual(['tasks.deploy.depends_on']);
      expect(error.details?.[0]?.message).toContain('"no-such-task"');
      expect(await tableCounts()).toEqual(countsBefore);
    }),
  );
});
