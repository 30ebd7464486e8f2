import { stripVTControlCharacters } from 'node:util';
import { changeLine, progressFrame, statusCounts, taskLines, waitingLine } from './progress';
import type { InputRequest, Run, Task, TaskStatus, Ticket, TicketTask } from '@drover/client';

const plain = (lines: string[]) => lines.map((l) => stripVTControlCharacters(l));

const usage = { costUsd: null, inputTokens: null, outputTokens: null };
const at = '2026-01-01T00:00:00.000Z';

const task = (key: string, status: TaskStatus, more: Partial<TicketTask> = {}): TicketTask => ({
  id: `id-${key}`,
  key,
  title: null,
  status,
  priority: 0,
  agent: 'command',
  provider: 'default',
  attempt: 1,
  readyAt: null,
  finishedAt: null,
  phase: null,
  when: null,
  onFailure: 'stop',
  requiresApproval: false,
  reason: null,
  waiting: null,
  approval: null,
  usage,
  dependsOn: [],
  ...more,
});

const ticket = (tasks: TicketTask[], more: Partial<Ticket> = {}): Ticket => ({
  id: 't-1',
  title: 'release',
  status: 'RUNNING',
  priority: 0,
  createdAt: at,
  updatedAt: at,
  finishedAt: null,
  labels: [],
  budgetUsd: null,
  project: 'default',
  description: null,
  usage,
  tasks,
  ...more,
});

const detail = (t: TicketTask, more: Partial<Task>): Task => ({
  ...t,
  ticketId: 't-1',
  spec: {},
  maxAttempts: 3,
  timeoutMs: 60_000,
  backoffBaseMs: 1000,
  backoffFactor: 2,
  backoffCapMs: 60_000,
  retryOn: [],
  retryAt: null,
  createdAt: at,
  approvalTimeoutMs: null,
  inputs: [],
  runs: [],
  dependsOn: [],
  ...more,
});

describe(progressFrame.name, () => {
  const now = Date.parse('2026-01-01T00:01:05.000Z');

  it('shows per ticket its status, counts by task status and elapsed time, then the tasks worth a line', () => {
    const frame = progressFrame(
      [
        ticket([
          task('lint', 'SUCCEEDED'),
          task('test', 'RUNNING', { attempt: 2 }),
          task('docs', 'SKIPPED', { reason: 'when was false: x' }),
          task('pack', 'PENDING'),
          task('e2e', 'RUNNING'),
        ]),
      ],
      new Map(),
      now,
    );
    expect(plain(frame)).toEqual([
      'release  RUNNING  2 RUNNING · 1 PENDING · 1 SUCCEEDED · 1 SKIPPED  1m 05s',
      '  ▶ test  RUNNING  attempt 2',
      '  - docs  SKIPPED  when was false: x',
      '  ▶ e2e  RUNNING',
    ]);
  });

  it('gives the commands that unblock a task waiting for approval or for input', () => {
    const gate = task('publish', 'AWAITING_APPROVAL');
    const ask = task('deploy', 'AWAITING_INPUT', { reason: 'asks for TOKEN: token?' });
    const inputs: InputRequest[] = [
      {
        id: 'i-1',
        runId: null,
        name: 'TOKEN',
        prompt: 'token?',
        secret: true,
        choices: [],
        requestedAt: '2026-01-01T00:00:10.000Z',
        value: null,
        answeredBy: null,
        answeredAt: null,
      },
    ];
    const frame = plain(
      progressFrame([ticket([gate, ask])], new Map([[ask.id, detail(ask, { inputs })]]), now),
    );
    expect(frame.slice(1)).toEqual([
      '  ? publish  AWAITING_APPROVAL',
      '      drover approve id-publish',
      '      drover reject id-publish',
      '  ? deploy  AWAITING_INPUT  TOKEN (secret): "token?"',
      '      drover answer id-deploy --stdin',
    ]);
  });

  it("falls back on the task's reason when the input request has not been read", () => {
    const ask = task('deploy', 'AWAITING_INPUT', { reason: 'asks for REGION: which region?' });
    expect(plain(taskLines(ask))).toEqual([
      '  ? deploy  AWAITING_INPUT  asks for REGION: which region?',
      '      drover answer id-deploy <value>',
    ]);
  });

  it("names why a task failed: its reason, else its newest run's error", () => {
    const rejected = task('a', 'FAILED', { reason: 'rejected: no' });
    const crashed = task('b', 'FAILED', { attempt: 3 });
    const runs = [1, 2, 3].map((attempt): Run => ({
      id: `r-${attempt}`,
      attempt,
      status: 'FAILED',
      runnerId: 'x',
      dispatchedAt: at,
      startedAt: null,
      finishedAt: null,
      leaseExpiresAt: null,
      deadlineAt: null,
      exitCode: attempt,
      errorClass: 'AGENT_FAILED',
      errorMessage: `exited with ${attempt}`,
      result: null,
      logLines: 0,
      lostLogLines: null,
      costUsd: null,
      inputTokens: null,
      outputTokens: null,
    }));
    const frame = plain(
      progressFrame(
        [ticket([rejected, crashed], { status: 'FAILED', finishedAt: '2026-01-01T00:00:42.000Z' })],
        new Map([[crashed.id, detail(crashed, { runs })]]),
        now,
      ),
    );
    expect(frame).toEqual([
      'release  FAILED  2 FAILED  42.0s',
      '  ✗ a  FAILED  rejected: no',
      '  ✗ b  FAILED  attempt 3  AGENT_FAILED: exited with 3',
    ]);
  });

  it('gives no task lines for tasks only waiting their turn or done', () => {
    const frame = progressFrame(
      [ticket([task('a', 'PENDING'), task('b', 'READY'), task('c', 'SUCCEEDED')])],
      new Map(),
      now,
    );
    expect(frame).toHaveLength(1);
  });
});

describe(statusCounts.name, () => {
  it('lists work in hand before work done', () => {
    const counts = statusCounts(
      (['SUCCEEDED', 'FAILED', 'RUNNING', 'SUCCEEDED'] as const).map((status) => ({ status })),
    );
    expect(stripVTControlCharacters(counts)).toBe('1 RUNNING · 2 SUCCEEDED · 1 FAILED');
  });
});

describe(changeLine.name, () => {
  it('is one plain line with the elapsed time, the task, its status and what to do', () => {
    const line = changeLine(
      {
        taskId: 'id-publish',
        ticketId: '00000000-0000-0000-0000-000000000000',
        key: 'publish',
        status: 'AWAITING_APPROVAL',
        previous: 'PENDING',
      },
      12_345,
      'release',
    );
    expect(stripVTControlCharacters(line)).toBe(
      '  12.3s  release: task publish AWAITING_APPROVAL: drover approve id-publish  |  drover reject id-publish',
    );
  });

  it('says the attempt and the reason of a retry', () => {
    const line = changeLine(
      {
        taskId: 'id-a',
        ticketId: '00000000-0000-0000-0000-000000000000',
        key: 'a',
        status: 'RETRY_WAIT',
        previous: 'RUNNING',
        attempt: 2,
        retryAt: '2026-01-01T00:00:30.000Z',
      },
      1000,
    );
    expect(stripVTControlCharacters(line)).toBe(
      '   1.0s  task a RETRY_WAIT (attempt 2): retry at 2026-01-01T00:00:30.000Z',
    );
  });

  it("says how long a refusing provider asked to wait before a task's retry", () => {
    const line = changeLine(
      {
        taskId: 'id-a',
        ticketId: '00000000-0000-0000-0000-000000000000',
        key: 'a',
        status: 'RETRY_WAIT',
        previous: 'RUNNING',
        attempt: 1,
        retryAt: '2026-01-01T00:00:30.000Z',
        retryAfterMs: 30_000,
      },
      1000,
      undefined,
      'RATE_LIMITED: codex (iteration 1) exited with 1: its provider refused',
    );
    expect(stripVTControlCharacters(line)).toBe(
      '   1.0s  task a RETRY_WAIT: retry at 2026-01-01T00:00:30.000Z (its provider asked to wait 30.0s)',
    );
  });
});

describe('waiting for a runner', () => {
  const waiting = {
    reason: 'NO_RUNNER_IN_POOL' as const,
    message:
      "no runner of project team-b's own pool is online: start a runner with RUNNER_PROJECT=team-b",
    since: '2026-01-01T00:00:00.000Z',
  };

  it('gives a waiting task a line with its reason and what to do, and a task a runner can take none', () => {
    expect(plain(taskLines(task('build', 'DISPATCHED', { waiting })))).toEqual([
      `  … build  DISPATCHED  waits for a runner (NO_RUNNER_IN_POOL): ${waiting.message}`,
    ]);
    expect(taskLines(task('build', 'DISPATCHED', { waiting: null }))).toEqual([]);
    expect(taskLines(task('build', 'READY'))).toEqual([]);
  });

  it('says a wait beginning and ending on a plain line', () => {
    expect(stripVTControlCharacters(waitingLine({ key: 'build', waiting }, 3000, 'release'))).toBe(
      `   3.0s  release: task build waits for a runner (NO_RUNNER_IN_POOL): ${waiting.message}`,
    );
    expect(stripVTControlCharacters(waitingLine({ key: 'build', waiting: null }, 9000))).toBe(
      '   9.0s  task build a runner can take it now',
    );
  });
});
