import { processGone, waitFor } from '@drover/testing';
import { DroverHttp, type TaskView } from './support/api';
import { useServices, type AppHandle } from './support/services';

// Retries, timeouts, cancellation and fencing seen from outside: runners killed,
// frozen and restarted as processes, the state read through the HTTP API. The
// stack runs with 1 s heartbeats, so a silent runner is STALE after 3 s, and
// the default backoff (1 s, jittered by up to 20 %).

const HEARTBEAT_MS = 1_000;
const STALE_AFTER = 3;
const BACKOFF_MS = 1_000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function millis(timestamp: string | null, what: string): number {
  if (timestamp === null) throw new Error(`${what} is not set`);
  return Date.parse(timestamp);
}

/** A step that logs its shell's and its background sleep's pids, then waits `seconds`. */
const treeStep = (seconds: number, after = 'echo done') =>
  `sleep ${seconds} & echo "pids $$ $!"; wait; ${after}`;

describe('reliable execution', () => {
  const { services: stack, logged } = useServices({ runner: false });
  const http = () => new DroverHttp(stack().baseUrl, stack().apiKey);
  const runners: AppHandle[] = [];

  afterEach(async () => {
    for (const runner of runners.splice(0)) {
      if (!runner.hasExited()) await stack().killApp(runner);
    }
  });

  async function runner(env: Record<string, string> = {}, runnerId?: string) {
    const handle = await stack().startRunner({ env, runnerId });
    runners.push(handle);
    return handle;
  }

  /** The pids a run's step logged (see treeStep). */
  function pidsOf(runId: string): Promise<number[]> {
    return waitFor(
      async () => {
        const lines = (await http().logs(runId)).lines.map((l) => l.text);
        const match = lines.map((text) => /^pids (\d+) (\d+)$/.exec(text)).find(Boolean);
        return match ? [Number(match[1]), Number(match[2])] : undefined;
      },
      `run ${runId} to log its pids`,
      10_000,
      50,
    );
  }

  async function submit(task: Record<string, unknown>): Promise<string> {
    const ticket = await http().submit({
      title: `e2e: ${String(task.key)}`,
      tasks: [task as never],
    });
    return ticket.tasks[0].id;
  }

  const runningOn = (runnerId: string | undefined, attempt: number) => (t: TaskView) =>
    t.status === 'RUNNING' &&
    t.runs.length === attempt &&
    t.runs[attempt - 1].runnerId === runnerId;

  it(
    'retries on another runner a task whose runner was killed with SIGKILL, and kills the orphaned tree',
    logged(async () => {
      const doomed = await runner({ RUNNER_SLOTS: '1' });
      const taskId = await submit({ key: 'survivor', steps: [{ run: treeStep(4) }] });
      const first = await http().waitForTask(
        taskId,
        runningOn(doomed.runnerId, 1),
        'run 1',
        15_000,
      );
      const pids = await pidsOf(first.runs[0].id);
      const rescuer = await runner();

      const killedAt = Date.now();
      await stack().killApp(doomed);

      // The killed runner's command does not run on unowned.
      await waitFor(() => pids.every(processGone), `orphans ${pids.join(', ')} gone`, 3_000);
      const second = await http().waitForTask(
        taskId,
        runningOn(rescuer.runnerId, 2),
        'the task to run again on the other runner',
        15_000,
      );
      const elsewhereMs = millis(second.runs[1].startedAt, 'startedAt') - killedAt;
      process.stdout.write(`runner death to its task running elsewhere: ${elsewhereMs} ms\n`);
      // Stale after 3 missed beats, then the backoff: about 3 + 1 s.
      expect(elsewhereMs).toBeGreaterThanOrEqual(STALE_AFTER * HEARTBEAT_MS - HEARTBEAT_MS);
      expect(elsewhereMs).toBeLessThan(STALE_AFTER * HEARTBEAT_MS + BACKOFF_MS * 1.2 + 3_000);
      expect(second.runs[0]).toMatchObject({
        status: 'FAILED',
        errorClass: 'RUNNER_LOST',
        runnerId: doomed.runnerId,
      });

      const done = await http().waitForTask(
        taskId,
        (t) => t.status === 'SUCCEEDED',
        'the retried task to succeed',
        15_000,
      );
      expect(done.runs.map((r) => [r.attempt, r.status, r.runnerId])).toEqual([
        [1, 'FAILED', doomed.runnerId],
        [2, 'SUCCEEDED', rescuer.runnerId],
      ]);
    }),
    60_000,
  );

  it(
    'times out a command that ignores SIGTERM, kills its tree, retries after the backoff, then ends TIMED_OUT',
    logged(async () => {
      await runner();
      const taskId = await submit({
        key: 'stubborn',
        timeout_seconds: 2,
        retry: { max_attempts: 2, backoff_seconds: BACKOFF_MS / 1000 },
        steps: [{ run: `trap '' TERM; ${treeStep(60)}` }],
      });
      const first = await http().waitForTask(
        taskId,
        (t) => t.runs[0]?.status === 'RUNNING',
        'run 1',
        15_000,
      );
      const pids = await pidsOf(first.runs[0].id);

      const ended = await http().waitForTask(
        taskId,
        (t) => t.status === 'TIMED_OUT',
        'the task to time out twice',
        30_000,
      );

      expect(pids.every(processGone)).toBe(true);
      expect(ended.runs.map((r) => [r.attempt, r.status, r.errorClass])).toEqual([
        [1, 'TIMED_OUT', 'TIMEOUT'],
        [2, 'TIMED_OUT', 'TIMEOUT'],
      ]);
      for (const run of ended.runs) {
        const took = millis(run.finishedAt, 'finishedAt') - millis(run.startedAt, 'startedAt');
        // 2 s, then SIGTERM is ignored and SIGKILL follows the 2 s kill grace.
        expect(took).toBeGreaterThanOrEqual(2_000);
        expect(took).toBeLessThan(2_000 + 2_000 + 2_000);
      }
      // The retry waited out its backoff: 1 s, jittered by up to 20 %, plus dispatch time.
      const gap =
        millis(ended.runs[1].dispatchedAt, 'dispatchedAt') -
        millis(ended.runs[0].finishedAt, 'finishedAt');
      expect(gap).toBeGreaterThanOrEqual(BACKOFF_MS * 0.8 - 100);
      expect(gap).toBeLessThan(BACKOFF_MS * 1.2 + 1_500);
    }),
    60_000,
  );

  it(
    'fences out a runner that comes back after it was presumed dead: its late report changes nothing',
    logged(async () => {
      const frozen = await runner({ RUNNER_SLOTS: '1' });
      const taskId = await submit({ key: 'fenced', steps: [{ run: treeStep(2) }] });
      await http().waitForTask(taskId, runningOn(frozen.runnerId, 1), 'run 1', 15_000);
      const other = await runner();

      // Frozen, not dead: its command goes on, but it cannot beat or report.
      frozen.signal('SIGSTOP');
      const done = await http().waitForTask(
        taskId,
        (t) => t.status === 'SUCCEEDED',
        'the task to be retried and succeed on the other runner',
        30_000,
      );
      frozen.signal('SIGCONT');

      // Back, it reports run 1 finished with its old lease token: rejected.
      await waitFor(
        () =>
          stack().app('orchestrator').output().includes(`run ${done.runs[0].id}: finish report`),
        'the orchestrator to reject the late report',
        10_000,
      );
      await sleep(HEARTBEAT_MS * 2);
      const after = await http().task(taskId);
      // Everything but line counts (run 2's last log lines may be recorded after its end).
      const state = (t: TaskView) => ({ ...t, runs: t.runs.map(({ logLines: _, ...r }) => r) });
      expect(state(after)).toEqual(state(done));
      expect(after.runs.map((r) => [r.attempt, r.status, r.errorClass, r.runnerId])).toEqual([
        [1, 'FAILED', 'RUNNER_LOST', frozen.runnerId],
        [2, 'SUCCEEDED', null, other.runnerId],
      ]);
      // It heartbeats again and is ONLINE, holding nothing it no longer owns.
      await waitFor(
        async () => (await http().runner(frozen.runnerId as string)).status === 'ONLINE',
        'the thawed runner to be ONLINE',
        5_000,
      );
    }),
    60_000,
  );

  it(
    'retries at once the runs of a runner that restarted under the same id',
    logged(async () => {
      const first = await runner({ RUNNER_SLOTS: '1' });
      const id = first.runnerId as string;
      const taskId = await submit({ key: 'restarted', steps: [{ run: treeStep(30) }] });
      await http().waitForTask(taskId, runningOn(id, 1), 'run 1', 15_000);

      await stack().killApp(first);
      const restartedAt = Date.now();
      await runner({ RUNNER_SLOTS: '1' }, id);

      const lost = await http().waitForTask(
        taskId,
        (t) => t.runs[0].status !== 'RUNNING',
        'run 1 to be given up',
        10_000,
      );
      // Re-registering ends its earlier self's leases: no waiting for three missed beats.
      const givenUpIn = millis(lost.runs[0].finishedAt, 'finishedAt') - restartedAt;
      expect(givenUpIn).toBeLessThan(STALE_AFTER * HEARTBEAT_MS);
      expect(lost.runs[0]).toMatchObject({ status: 'FAILED', errorClass: 'RUNNER_LOST' });
      const again = await http().waitForTask(taskId, runningOn(id, 2), 'run 2', 15_000);
      expect(again.runs[1].attempt).toBe(2);
      expect((await http().post(`/tasks/${taskId}/cancel`, {})).status).toBe(200);
    }),
    60_000,
  );

  it(
    'cancels a ticket: running work is stopped, waiting work never starts, twice is refused',
    logged(async () => {
      await runner();
      const ticket = await http().submit({
        title: 'e2e: cancel a ticket',
        tasks: [
          { key: 'long', steps: [{ run: treeStep(60) }] },
          { key: 'after', depends_on: ['long'], steps: [{ run: 'echo never' }] },
        ],
      });
      const long = ticket.tasks.find((t) => t.key === 'long')?.id as string;
      const running = await http().waitForTask(
        long,
        (t) => t.status === 'RUNNING',
        'long to run',
        15_000,
      );
      const pids = await pidsOf(running.runs[0].id);

      const answer = await http().post(`/tickets/${ticket.id}/cancel`, {});

      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ ticket: { id: ticket.id, status: 'CANCELLED' } });
      await waitFor(() => pids.every(processGone), 'the running tree to be killed', 5_000);
      const after = await http().ticket(ticket.id);
      expect(after.tasks.map((t) => [t.key, t.status])).toEqual([
        ['long', 'CANCELLED'],
        ['after', 'CANCELLED'],
      ]);
      const again = await http().post(`/tickets/${ticket.id}/cancel`, {});
      expect(again).toMatchObject({
        status: 409,
        body: { error: { code: 'ALREADY_FINAL' } },
      });
      const unknown = await http().post('/tickets/00000000-0000-4000-8000-000000000000/cancel', {});
      expect(unknown.status).toBe(404);
      const malformed = await http().post('/tasks/not-a-uuid/cancel', {});
      expect(malformed).toMatchObject({
        status: 400,
        body: { error: { code: 'INVALID_REQUEST' } },
      });
    }),
    60_000,
  );
});
