import type { TaskStatus } from '@drover/contracts';
import { processGone, waitFor } from '@drover/testing';
import { DroverHttp, type RunnerView, type RunView, type TaskView } from './support/api';
import {
  runAppToExit,
  useServices,
  type AppHandle,
  type AppName,
  type AppRunResult,
  type ProcessExit,
} from './support/services';

// Runner lifecycle (crash, graceful drain, release on a short grace) and start-up
// refusal of a bad configuration, seen from outside: the gateway's HTTP API, process
// exit codes and stderr. The stack runs with RUNNER_HEARTBEAT_MS=1000,
// HEALTH_CHECK_INTERVAL_MS=200 and the default DROVER_STALE_AFTER_HEARTBEATS=3.

const HEARTBEAT_MS = 1_000;
const STALE_AFTER_INTERVALS = 3;
/** Task states of work that no runner has started. */
const NOT_STARTED: readonly TaskStatus[] = ['READY', 'DISPATCHED'];

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves with `promise`, or fails naming `what` after `timeoutMs`. */
async function within<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took over ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function runnerIdOf(runner: AppHandle): string {
  if (!runner.runnerId) throw new Error(`${runner.name} (pid ${String(runner.pid)}) has no id`);
  return runner.runnerId;
}

/** The only run of a task. */
function onlyRun(task: TaskView): RunView {
  const [run, ...more] = task.runs;
  if (!run || more.length) {
    throw new Error(`task ${task.key} should have one run: ${JSON.stringify(task.runs)}`);
  }
  return run;
}

function millis(timestamp: string | null, what: string): number {
  if (timestamp === null) throw new Error(`${what} is not set`);
  return Date.parse(timestamp);
}

/** Fails unless every task is not started, with no run started. */
function expectNeverStarted(views: readonly TaskView[], sigtermAt: number): void {
  const started = views.find(
    (t) => !NOT_STARTED.includes(t.status) || t.runs.some((r) => r.startedAt !== null),
  );
  if (!started) return;
  const run = started.runs.find((r) => r.startedAt !== null);
  const when = run?.startedAt
    ? ` by ${String(run.runnerId)}, ${Date.parse(run.startedAt) - sigtermAt} ms after the SIGTERM`
    : '';
  throw new Error(`the task was started${when}: ${JSON.stringify(started)}`);
}

// ---------------------------------------------------------------------------

describe('runner lifecycle', () => {
  // No runner of the stack's own: each test starts the one runner it needs. A test
  // wrapped in logged() that fails makes afterAll print the services' output.
  const { services: stack, logged } = useServices({ runner: false });
  const http = () => new DroverHttp(stack().baseUrl, stack().apiKey);

  function waitForRunnerStatus(id: string, status: RunnerView['status'], timeoutMs: number) {
    return waitFor(
      async () => {
        const runner = await http().runner(id);
        return runner.status === status && runner;
      },
      `runner ${id} to be listed ${status}`,
      timeoutMs,
      50,
    );
  }

  /** Fails unless no runner is listed ONLINE (so nothing but the test's runners can pull). */
  async function expectNoRunnerOnline(): Promise<void> {
    const online = (await http().runners()).filter((r) => r.status === 'ONLINE');
    expect(online.map((r) => r.id)).toEqual([]);
  }

  it(
    'lists a runner killed with SIGKILL as ONLINE for a second, then STALE within 6 s',
    logged(async () => {
      await expectNoRunnerOnline();
      const runner = await stack().startRunner();
      const id = runnerIdOf(runner);
      expect((await http().runner(id)).heartbeatIntervalMs).toBe(HEARTBEAT_MS);

      const killedAt = Date.now();
      await stack().killApp(runner);
      const exit: ProcessExit = await runner.exit;
      expect(exit).toEqual({ code: null, signal: 'SIGKILL' });

      // Bounded "still not STALE" window: 1 s after the kill, its last heartbeat is at
      // most 2 s old, short of three missed intervals.
      while (Date.now() < killedAt + HEARTBEAT_MS) {
        expect((await http().runner(id)).status).toBe('ONLINE');
        await sleep(100);
      }

      const stale = await waitForRunnerStatus(
        id,
        'STALE',
        Math.max(killedAt + 6_000 - Date.now(), 0),
      );
      const seenAt = Date.now();
      expect(seenAt - killedAt).toBeLessThan(6_000);
      // STALE because heartbeats stopped at the kill, and only after three intervals.
      const lastBeat = Date.parse(stale.lastHeartbeatAt);
      expect(lastBeat).toBeLessThanOrEqual(seenAt);
      expect(lastBeat).toBeLessThanOrEqual(killedAt + 50);
      expect(seenAt - lastBeat).toBeGreaterThanOrEqual(STALE_AFTER_INTERVALS * HEARTBEAT_MS);
    }),
    30_000,
  );

  it(
    'on SIGTERM finishes its running task, starts none submitted after, exits 0, goes OFFLINE',
    logged(async () => {
      await expectNoRunnerOnline();
      const runner = await stack().startRunner({ env: { RUNNER_SHUTDOWN_GRACE_MS: '10000' } });
      const id = runnerIdOf(runner);
      const slowId = await http().submitStep('e2e: drain', 'slow', 'sleep 2; echo done');
      await http().waitForTask(
        slowId,
        (t) => t.status === 'RUNNING',
        'the slow task to run',
        15_000,
      );

      runner.signal('SIGTERM');
      const sigtermAt = Date.now();
      // Submitted back to back for 1.5 s after the SIGTERM, so that new work reaches
      // the queue at every moment of the runner's shutdown, not at one instant only.
      const laterIds: string[] = [];
      while (Date.now() < sigtermAt + 1_500 && laterIds.length < 20) {
        const title = `e2e: after SIGTERM ${laterIds.length}`;
        laterIds.push(await http().submitStep(title, 'later', 'echo later'));
      }
      const laterTasks = () => Promise.all(laterIds.map((taskId) => http().task(taskId)));

      const exit = await within(runner.exit, 15_000, 'the runner to exit after SIGTERM');
      expect(exit).toEqual({ code: 0, signal: null });

      // The running task was let finish, on this runner, after the SIGTERM.
      const slow = await http().waitForTask(
        slowId,
        (t) => t.status !== 'RUNNING',
        'slow to end',
        5_000,
      );
      expect(slow.status).toBe('SUCCEEDED');
      const slowRun = onlyRun(slow);
      expect(slowRun).toMatchObject({ status: 'SUCCEEDED', exitCode: 0, runnerId: id });
      expect(millis(slowRun.finishedAt, 'finishedAt')).toBeGreaterThan(sigtermAt);
      const logs = await http().logs(slowRun.id);
      expect(logs.lines.filter((l) => l.stream === 'stdout').map((l) => l.text)).toEqual(['done']);

      await waitForRunnerStatus(id, 'OFFLINE', 5_000);

      // None of the tasks submitted after the SIGTERM was started by the stopping runner
      // (a started run stays on record with its runner and startedAt) ...
      expect(laterIds.length).toBeGreaterThan(0);
      expectNeverStarted(await laterTasks(), sigtermAt);
      // ... and, with no runner left, they stay unstarted (bounded "still not started" window).
      await expectNoRunnerOnline();
      const idleUntil = Date.now() + 1_000;
      do {
        await sleep(200);
        expectNeverStarted(await laterTasks(), sigtermAt);
      } while (Date.now() < idleUntil);

      // They were queued, not lost: the next runner runs them.
      const next = await stack().startRunner();
      try {
        for (const taskId of laterIds) {
          const done = await http().waitForTask(
            taskId,
            (t) => t.status === 'SUCCEEDED' || t.status === 'FAILED',
            `later task ${taskId} to end on the next runner`,
            20_000,
          );
          expect(done.status).toBe('SUCCEEDED');
          expect(onlyRun(done)).toMatchObject({ status: 'SUCCEEDED', runnerId: next.runnerId });
        }
      } finally {
        expect(await stack().stopApp(next)).toMatchObject({ code: 0, killed: false });
      }
    }),
    60_000,
  );

  it(
    'on SIGTERM with a 500 ms grace releases a long step, retried at once elsewhere; cancel stops it',
    logged(async () => {
      await expectNoRunnerOnline();
      const runner = await stack().startRunner({ env: { RUNNER_SHUTDOWN_GRACE_MS: '500' } });
      const id = runnerIdOf(runner);
      // The step prints its shell's pid and its sleep's pid, so the test can look for them.
      const taskId = await http().submitStep(
        'e2e: release',
        'long',
        'sleep 30 & echo "pids $$ $!"; wait',
      );
      const running = await http().waitForTask(
        taskId,
        (t) => t.status === 'RUNNING',
        'the long task to run',
        15_000,
      );
      const runId = onlyRun(running).id;
      const pids = await waitFor(
        async () => {
          const lines = (await http().logs(runId)).lines.map((l) => l.text);
          const match = lines.map((text) => /^pids (\d+) (\d+)$/.exec(text)).find(Boolean);
          return match ? [Number(match[1]), Number(match[2])] : undefined;
        },
        'the step to log its pids',
        10_000,
        50,
      );
      expect(pids.some(processGone)).toBe(false);

      runner.signal('SIGTERM');
      const sigtermAt = Date.now();
      const exit = await within(runner.exit, 8_000, 'the runner to exit after SIGTERM');
      expect(exit).toEqual({ code: 0, signal: null });

      // Released, the task is READY again at once: no backoff, no lease to wait out.
      const released = await http().waitForTask(
        taskId,
        (t) => t.runs[0]?.status !== 'RUNNING',
        'the long task to be released',
        10_000,
      );
      expect(NOT_STARTED).toContain(released.status);
      const [run, next2] = released.runs;
      // Attempt 2 may already be leased; nobody can start it, there is no runner.
      if (next2) expect(next2).toMatchObject({ attempt: 2, status: 'DISPATCHED', startedAt: null });
      expect(run).toMatchObject({ status: 'FAILED', errorClass: 'RUNNER_LOST', runnerId: id });
      const startedAt = millis(run.startedAt, 'startedAt');
      const finishedAt = millis(run.finishedAt, 'finishedAt');
      expect(finishedAt).toBeGreaterThanOrEqual(sigtermAt - 50);
      expect(finishedAt - startedAt).toBeLessThan(10_000);

      await waitForRunnerStatus(id, 'OFFLINE', 5_000);
      // The step's whole process tree was stopped, not just abandoned.
      await waitFor(
        () => pids.every(processGone),
        `processes ${pids.join(', ')} to be gone`,
        5_000,
      );

      // The next runner takes it up as attempt 2 straight away.
      const next = await stack().startRunner();
      const retried = await http().waitForTask(
        taskId,
        (t) => t.status === 'RUNNING' && t.runs.length === 2,
        'the released task to run again',
        15_000,
      );
      expect(retried.runs[1]).toMatchObject({ attempt: 2, runnerId: next.runnerId });
      const secondPids = await waitFor(
        async () => {
          const lines = (await http().logs(retried.runs[1].id)).lines.map((l) => l.text);
          const match = lines.map((text) => /^pids (\d+) (\d+)$/.exec(text)).find(Boolean);
          return match ? [Number(match[1]), Number(match[2])] : undefined;
        },
        'the second run to log its pids',
        10_000,
        50,
      );

      // Cancelled while running: stopped on its runner within seconds, tree and all.
      const cancelledAt = Date.now();
      const cancel = await http().post(`/tasks/${taskId}/cancel`, {});
      expect(cancel.status).toBe(200);
      await waitFor(
        () => secondPids.every(processGone),
        `processes ${secondPids.join(', ')} to be gone after the cancel`,
        5_000,
      );
      const stoppedIn = Date.now() - cancelledAt;
      expect(stoppedIn).toBeLessThan(5_000);
      const cancelled = await http().task(taskId);
      expect(cancelled.status).toBe('CANCELLED');
      expect(cancelled.runs.map((r) => [r.attempt, r.status, r.errorClass])).toEqual([
        [1, 'FAILED', 'RUNNER_LOST'],
        [2, 'CANCELLED', 'CANCELLED'],
      ]);
      // Twice: answered clearly, nothing changes, and it is never retried.
      const again = await http().post(`/tasks/${taskId}/cancel`, {});
      expect(again.status).toBe(409);
      expect(JSON.stringify(again.body)).toContain('already CANCELLED');
      expect(again.body).toMatchObject({ error: { code: 'ALREADY_FINAL' } });
      await sleep(1_500);
      expect((await http().task(taskId)).runs).toHaveLength(2);
      expect(await stack().stopApp(next)).toMatchObject({ code: 0, killed: false });
    }),
    60_000,
  );

  it(
    'refuses to start a runner whose RUNNER_PROJECT names no project: exit 1, nothing registered',
    logged(async () => {
      const { env } = stack();
      const result = await runAppToExit('agent-runner', {
        env: {
          ...env.env,
          RUNNER_ID: 'e2e-pool-nobody',
          RUNNER_PROJECT: 'no-such-team',
          RUNNER_SANDBOX: 'process',
          LOG_FORMAT: 'json',
        },
        timeoutMs: 20_000,
      });
      const output = `${result.stdout}${result.stderr}`;
      expect({ code: result.code, timedOut: result.timedOut }).toEqual({
        code: 1,
        timedOut: false,
      });
      // LOG_FORMAT=json escapes the quotes around the slug.
      expect(output).toMatch(
        /RUNNER_PROJECT=no-such-team: the registry refused this runner: project \\?"no-such-team\\?" does not exist/,
      );
      expect((await http().runners()).map((r) => r.id)).not.toContain('e2e-pool-nobody');
    }),
    30_000,
  );

  it(
    'refuses to start a runner whose image is not on the engine, naming it and npm run sandbox:build',
    logged(async () => {
      const dockerHost = process.env.DROVER_TEST_DOCKER_HOST;
      if (!dockerHost) throw new Error('DROVER_TEST_DOCKER_HOST is empty: no container engine');
      const image = 'localhost/drover-agent:000000000000';
      const result = await runAppToExit('agent-runner', {
        env: {
          ...stack().env.env,
          RUNNER_ID: 'e2e-no-image',
          RUNNER_SANDBOX: 'docker',
          DOCKER_HOST: dockerHost,
          RUNNER_IMAGE: image,
        },
        timeoutMs: 20_000,
      });
      expect({ code: result.code, timedOut: result.timedOut }).toEqual({
        code: 1,
        timedOut: false,
      });
      expect(`${result.stdout}${result.stderr}`).toContain(
        `sandbox image ${image} is not on the engine at ${dockerHost}: build it with \`npm run sandbox:build\``,
      );
      expect((await http().runners()).map((r) => r.id)).not.toContain('e2e-no-image');
    }),
    30_000,
  );
});

// ---------------------------------------------------------------------------

interface RefusedCase {
  title: string;
  app: AppName;
  env: Readonly<Record<string, string>>;
  args?: readonly string[];
  /** The keys stderr must name, and no others. */
  keys: readonly string[];
  /** Further text stderr must hold. */
  mentions?: readonly string[];
}

const REFUSED: readonly RefusedCase[] = [
  {
    title: 'the gateway with DATABASE_URL, NATS_URL and GATEWAY_PORT bad',
    app: 'gateway',
    env: { DATABASE_URL: 'not-a-url', NATS_URL: 'http://x', GATEWAY_PORT: '99999' },
    keys: ['DATABASE_URL', 'GATEWAY_PORT', 'NATS_URL'],
  },
  {
    title: "the scheduler with DROVER_CONCURRENCY='{bad'",
    app: 'scheduler',
    env: { DROVER_CONCURRENCY: '{bad' },
    keys: ['DROVER_CONCURRENCY'],
  },
  {
    title: 'the scheduler with --concurrency \'{"claude":-1}\' as an argument',
    app: 'scheduler',
    env: {},
    args: ['--concurrency', '{"claude":-1}'],
    keys: ['--concurrency'],
    mentions: ['--concurrency.claude: '],
  },
  {
    title: 'the scheduler with DROVER_CONCURRENCY and SCHEDULER_POLL_MS both bad',
    app: 'scheduler',
    env: { DROVER_CONCURRENCY: '{bad', SCHEDULER_POLL_MS: '1' },
    keys: ['DROVER_CONCURRENCY', 'SCHEDULER_POLL_MS'],
  },
  {
    title: 'the agent-runner with RUNNER_SLOTS=0',
    app: 'agent-runner',
    env: { RUNNER_SLOTS: '0' },
    keys: ['RUNNER_SLOTS'],
  },
  {
    title: 'the health-monitor with HEALTH_CHECK_INTERVAL_MS=abc',
    app: 'health-monitor',
    env: { HEALTH_CHECK_INTERVAL_MS: 'abc' },
    keys: ['HEALTH_CHECK_INTERVAL_MS'],
  },
  {
    title: 'the orchestrator with ORCHESTRATOR_REPORT_BATCH=0',
    app: 'orchestrator',
    env: { ORCHESTRATOR_REPORT_BATCH: '0' },
    keys: ['ORCHESTRATOR_REPORT_BATCH'],
  },
  {
    title: 'the orchestrator with OTEL_EXPORTER_OTLP_ENDPOINT=not-a-url',
    app: 'orchestrator',
    env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'not-a-url' },
    keys: ['OTEL_EXPORTER_OTLP_ENDPOINT'],
  },
];

/**
 * Everything but the bad keys is valid; the infrastructure URLs point where nothing
 * listens, so a service that wrongly accepted its configuration fails to connect
 * instead of touching shared infrastructure.
 */
const VALID_ELSEWHERE: Readonly<Record<string, string>> = {
  DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/drover_e2e_config',
  NATS_URL: 'nats://127.0.0.1:1',
  REDIS_URL: 'redis://127.0.0.1:1',
  DROVER_SUBJECT_PREFIX: 'e2econfig',
  LOG_FORMAT: 'json',
};

/** The keys a refusal lists: `  - KEY: message` or `  - --flag.path: message`. */
function listedKeys(stderr: string): string[] {
  const keys = [...stderr.matchAll(/^ {2}- (\S+?): /gm)].map((m) => m[1].split('.')[0]);
  return [...new Set(keys)].sort();
}

describe('start-up with a bad configuration', () => {
  const results = new Map<RefusedCase, Promise<AppRunResult>>();

  beforeAll(() => {
    // Started all at once: each is a separate process that exits on its own.
    for (const c of REFUSED) {
      const result = runAppToExit(c.app, {
        env: { ...VALID_ELSEWHERE, ...c.env },
        args: c.args,
        timeoutMs: 20_000,
      });
      result.catch(() => undefined);
      results.set(c, result);
    }
  });

  afterAll(async () => {
    await Promise.allSettled(results.values());
  }, 30_000);

  it.each(REFUSED)(
    'refuses to start $title: exit code 78, every bad key named on stderr',
    async (c) => {
      const result = await results.get(c);
      if (!result) throw new Error(`${c.title} was not started`);
      const context = `stderr:\n${result.stderr}\nstdout:\n${result.stdout}`;
      try {
        expect(result.timedOut).toBe(false);
        expect({ code: result.code, signal: result.signal }).toEqual({ code: 78, signal: null });
        expect(result.stderr.startsWith(`drover-${c.app}: Invalid configuration:\n`)).toBe(true);
        expect(listedKeys(result.stderr)).toEqual([...c.keys].sort());
        for (const text of c.mentions ?? []) expect(result.stderr).toContain(text);
      } catch (error) {
        throw new Error(`${(error as Error).message}\n${context}`);
      }
    },
    30_000,
  );
});
