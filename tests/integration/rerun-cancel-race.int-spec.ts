import { randomInt } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { waitFor } from '@drover/testing';
import { isTerminal, ticketStatusFor } from '@drover/workflow';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// A rerun and a cancel of the same ticket, issued together, in every order and
// spacing: whichever lands first, the ticket settles, every task ends final, and
// every run it dispatched ends (none left DISPATCHED or RUNNING, no attempt
// skipped or taken twice).

let stack: InProcessStack;

beforeAll(async () => {
  stack = await startInProcessStack({ SCHEDULER_POLL_MS: '20', RUNNER_SLOTS: '8' });
}, 60_000);

afterAll(async () => {
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

interface Ticket {
  id: string;
  status: string;
  tasks: { id: string; key: string; status: string }[];
}

const ticket = async (id: string) =>
  (await stack.request(stack.apiKey, 'GET', `/tickets/${id}`)).body as Ticket;

/** A ticket whose `build` fails its first attempt (a later one passes after 1 s); `ship` needs it. */
async function submitFailed(title: string): Promise<Ticket> {
  const submitted = await call('/tickets', {
    title,
    tasks: [
      {
        key: 'build',
        retry: { max_attempts: 1 },
        steps: [{ run: 'test "$DROVER_ATTEMPT" -ge 2 && sleep 1' }],
      },
      { key: 'ship', depends_on: ['build'], steps: [{ run: 'true' }] },
    ],
  });
  expect(submitted).toMatchObject({ status: 201 });
  const id = (submitted.body as { id: string }).id;
  await waitFor(async () => (await ticket(id)).status === 'FAILED', `${title} to fail`, 30_000);
  return ticket(id);
}

type Variant = 'ticket/ticket' | 'task/ticket' | 'ticket/task';

/** The rerun and cancel paths of a variant: `rerun target / cancel target`. */
function paths(variant: Variant, t: Ticket): { rerun: string; cancel: string } {
  const build = t.tasks.find((task) => task.key === 'build')!.id;
  const [rerunOf, cancelOf] = variant.split('/');
  return {
    rerun: rerunOf === 'ticket' ? `/tickets/${t.id}/rerun` : `/tasks/${build}/rerun`,
    cancel: cancelOf === 'ticket' ? `/tickets/${t.id}/cancel` : `/tasks/${build}/cancel`,
  };
}

/** Sends both, the second `gapMs` after the first (either may be first). */
async function race(rerunPath: string, cancelPath: string, cancelFirst: boolean, gapMs: number) {
  const later = async <T>(send: () => Promise<T>) => {
    await delay(gapMs);
    return send();
  };
  const rerun = () => call(rerunPath);
  const cancel = () => call(cancelPath);
  const [r, c] = await Promise.all(
    cancelFirst ? [later(rerun), cancel()] : [rerun(), later(cancel)],
  );
  return { rerun: r, cancel: c, answeredAt: new Date() };
}

/** Every check of one raced ticket, once its runs have ended. */
async function expectSettled(
  ticketId: string,
  outcome: Awaited<ReturnType<typeof race>>,
  cancelsTicket: boolean,
) {
  const { prisma } = stack.env;
  await waitFor(
    async () => ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes((await ticket(ticketId)).status),
    `ticket ${ticketId} to settle`,
    30_000,
  );
  await waitFor(
    async () =>
      (await prisma.run.count({
        where: { ticketId, status: { in: ['DISPATCHED', 'RUNNING'] } },
      })) === 0,
    `the runs of ${ticketId} to end`,
    30_000,
  );
  const row = await prisma.ticket.findUniqueOrThrow({ where: { id: ticketId } });
  const tasks = await prisma.task.findMany({ where: { ticketId }, orderBy: { key: 'asc' } });
  const runs = await prisma.run.findMany({ where: { ticketId }, orderBy: { attempt: 'asc' } });
  const where = `ticket ${ticketId} (rerun ${outcome.rerun.status}, cancel ${outcome.cancel.status})`;

  // Nothing left open, and the ticket says what its tasks say.
  expect([where, tasks.filter((t) => !isTerminal(t.status)).map((t) => t.key)]).toEqual([
    where,
    [],
  ]);
  expect([where, row.status, row.openTasks]).toEqual([
    where,
    ticketStatusFor(tasks.map((t) => t.status)),
    0,
  ]);
  // Every run ended; each task's runs are its attempts 1..n, each once.
  expect([
    where,
    runs.filter((r) => !['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED'].includes(r.status)),
  ]).toEqual([where, []]);
  for (const task of tasks) {
    const attempts = runs.filter((r) => r.taskId === task.id).map((r) => r.attempt);
    expect([where, task.key, attempts]).toEqual([
      where,
      task.key,
      Array.from({ length: task.attempt }, (_, i) => i + 1),
    ]);
  }
  // The rerun always applies: the ticket was final, and a cancel cannot reopen it.
  expect([where, outcome.rerun.status]).toEqual([where, 200]);
  expect([where, [200, 409].includes(outcome.cancel.status)]).toEqual([where, true]);
  if (outcome.cancel.status === 409) {
    // It came first, on the failed ticket: it changed nothing, and the rerun ran to the end.
    expect([where, (outcome.cancel.body as { error: { code: string } }).error.code]).toEqual([
      where,
      'ALREADY_FINAL',
    ]);
    expect([where, row.status]).toEqual([where, 'SUCCEEDED']);
  } else {
    // It came second and won: what it cancelled never ran after its answer.
    expect([where, tasks.some((t) => t.status === 'CANCELLED')]).toEqual([where, true]);
    if (cancelsTicket) expect([where, row.status]).toEqual([where, 'CANCELLED']);
    const late = runs.filter((r) => r.startedAt && r.startedAt > outcome.answeredAt);
    expect([where, late]).toEqual([where, []]);
  }
}

describe('a rerun racing a cancel of the same ticket', () => {
  it('settles every ticket, whichever lands first, with no task left open and no run lost', async () => {
    const variants: Variant[] = ['ticket/ticket', 'task/ticket', 'ticket/task'];
    // Cancels a few ms before or after the rerun, and one while the rerun's run is running.
    const spacings = [
      { cancelFirst: true, gapMs: () => randomInt(0, 20) },
      { cancelFirst: false, gapMs: () => randomInt(0, 40) },
      { cancelFirst: true, gapMs: () => randomInt(0, 5) },
      { cancelFirst: false, gapMs: () => randomInt(300, 800) },
    ];
    const rounds = variants.flatMap((variant) =>
      spacings.map((s) => ({ variant, cancelFirst: s.cancelFirst, gapMs: s.gapMs() })),
    );
    const failed = await Promise.all(rounds.map((r, i) => submitFailed(`race ${i}: ${r.variant}`)));
    const outcomes = [];
    for (const [i, round] of rounds.entries()) {
      const { rerun, cancel } = paths(round.variant, failed[i]);
      outcomes.push(await race(rerun, cancel, round.cancelFirst, round.gapMs));
    }
    for (const [i, round] of rounds.entries()) {
      await expectSettled(failed[i].id, outcomes[i], round.variant.endsWith('/ticket'));
    }
    // Both orders happened: some cancels landed on the failed ticket, some after the rerun.
    const cancelled = outcomes.filter((o) => o.cancel.status === 200).length;
    expect([cancelled > 0, cancelled < outcomes.length]).toEqual([true, true]);
  }, 180_000);
});
