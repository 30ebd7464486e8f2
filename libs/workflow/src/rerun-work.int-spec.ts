import {
  RunFinished,
  SubmitTicket,
  type SubmitTicketInput,
  type TaskSpec,
} from '@drover/contracts';
import {
  createTestEnv,
  POLICY_DEFAULTS,
  registerRunner,
  startReport,
  type TestEnv,
} from '@drover/testing';
import { TimerQueue } from '@drover/timers';
import { DEFAULT_PROJECT } from './access/projects';
import { CreateTicket } from './use-cases/create-ticket';
import { RecordRunFinished } from './use-cases/record-run-finished';
import { RerunWork } from './use-cases/rerun-work';
import { StartRun } from './use-cases/start-run';
import { leaseReadyTasks, newestRun } from './test-support/lease-ready-tasks';

let env: TestEnv;
let timers: TimerQueue;

beforeAll(async () => {
  env = await createTestEnv();
  timers = TimerQueue.create({ redisUrl: env.redisUrl, prefix: env.redisPrefix });
  await registerRunner(env.prisma, 'runner-1');
});

afterAll(async () => {
  await timers?.close();
  await env?.destroy();
});

async function create(input: Omit<SubmitTicketInput, 'title'>): Promise<string> {
  const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
    SubmitTicket.parse({ title: 'rerun', ...input }),
  );
  if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
  return reply.ticketId;
}

async function task(ticketId: string, key: string) {
  return env.prisma.task.findUniqueOrThrow({ where: { ticketId_key: { ticketId, key } } });
}

/** Leases what is READY, then starts and ends `key`'s newest run as its runner would report it. */
async function finish(
  ticketId: string,
  key: string,
  outcome: 'SUCCEEDED' | 'FAILED',
  output: object | null = null,
): Promise<void> {
  await leaseReadyTasks(env.prisma);
  const run = await newestRun(env.prisma, ticketId, key);
  const started = await new StartRun(env.prisma, timers, {
    leaseHeartbeats: 3,
    timeoutGraceMs: 1000,
  }).execute(startReport(run));
  expect(started.ok).toBe(true);
  const report = RunFinished.parse({
    runId: run.id,
    leaseToken: run.leaseToken,
    runnerId: 'runner-1',
    outcome,
    exitCode: outcome === 'FAILED' ? 1 : 0,
    errorClass: null,
    errorMessage: outcome === 'FAILED' ? 'exit status 1' : null,
    result: { output },
    finishedAt: new Date().toISOString(),
  });
  expect(await new RecordRunFinished(env.prisma, timers).execute(report)).toBe(true);
}

const rerun = (target: 'ticket' | 'task', id: string) =>
  new RerunWork(env.prisma, timers).execute({ target, id, projectId: DEFAULT_PROJECT.id });

describe(RerunWork, () => {
  it('renders a dependent again from the outputs its rerun dependency leaves', async () => {
    // `gen` may fail (on_failure: continue), so `use` runs on what its first run left.
    const ticketId = await create({
      tasks: [
        {
          key: 'gen',
          on_failure: 'continue',
          retry: { max_attempts: 1 },
          steps: [{ run: 'echo gen' }],
        },
        {
          key: 'use',
          depends_on: ['gen'],
          retry: { max_attempts: 1 },
          agent: 'claude-code',
          prompt: 'Ship version {{ steps.gen.output.version }} ({{steps.gen.status}}).',
          acceptance_commands: ['test "{{ steps.gen.output.version }}" = 2'],
        },
      ],
    });
    await finish(ticketId, 'gen', 'FAILED', { version: 1 });
    const first = (await task(ticketId, 'use')).spec as TaskSpec;
    expect(first.prompt).toBe('Ship version 1 (FAILED).');
    expect(first.acceptance_commands).toEqual(['test "${DROVER_STEP_GEN_OUTPUT_VERSION}" = 2']);
    expect(first.template_env).toEqual({ DROVER_STEP_GEN_OUTPUT_VERSION: '1' });
    await finish(ticketId, 'use', 'FAILED');
    expect((await env.prisma.ticket.findUniqueOrThrow({ where: { id: ticketId } })).status).toBe(
      'FAILED',
    );

    expect(await rerun('ticket', ticketId)).toMatchObject({ ok: true });
    expect((await task(ticketId, 'use')).status).toBe('PENDING');
    await finish(ticketId, 'gen', 'SUCCEEDED', { version: 2 });

    const use = await task(ticketId, 'use');
    expect(use.status).toBe('READY');
    const second = use.spec as TaskSpec;
    expect(second.prompt).toBe('Ship version 2 (SUCCEEDED).');
    expect(second.acceptance_commands).toEqual(['test "${DROVER_STEP_GEN_OUTPUT_VERSION}" = 2']);
    expect(second.template_env).toEqual({ DROVER_STEP_GEN_OUTPUT_VERSION: '2' });
  });

  it('fails the dependent at release when the new output lacks a field the template reads', async () => {
    const ticketId = await create({
      tasks: [
        {
          key: 'gen',
          on_failure: 'continue',
          retry: { max_attempts: 1 },
          steps: [{ run: 'true' }],
        },
        {
          key: 'use',
          depends_on: ['gen'],
          retry: { max_attempts: 1 },
          steps: [{ run: 'echo "{{ steps.gen.output.version }}"' }],
        },
      ],
    });
    await finish(ticketId, 'gen', 'FAILED', { version: 1 });
    await finish(ticketId, 'use', 'FAILED');
    expect(await rerun('ticket', ticketId)).toMatchObject({ ok: true });
    await finish(ticketId, 'gen', 'SUCCEEDED', { other: true });
    const use = await task(ticketId, 'use');
    expect([use.status, use.reason]).toEqual([
      'FAILED',
      `steps.0.run: steps.gen.output.version: gen's output has no "version"`,
    ]);
  });
});
