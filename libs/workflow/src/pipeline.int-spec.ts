import {
  openSecret,
  RunFinished,
  SubmitTicket,
  type InputAsk,
  type SubmitTicketInput,
  type TaskStatus,
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
import { TicketQueries } from './ticket-queries';
import { CreateTicket } from './use-cases/create-ticket';
import { FireTimer } from './use-cases/fire-timer';
import { RecordRunFinished } from './use-cases/record-run-finished';
import { StartRun } from './use-cases/start-run';
import { ActOnTask } from './use-cases/task-command';
import { leaseReadyTasks, newestRun } from './test-support/lease-ready-tasks';

type TaskInput = NonNullable<SubmitTicketInput['tasks']>[number];

const SECRETS_KEY = Buffer.alloc(32, 7);
const BY = { keyId: '00000000-0000-4000-8000-00000000000b', name: 'reviewer' };

let env: TestEnv;
let timers: TimerQueue;
let act: ActOnTask;

beforeAll(async () => {
  env = await createTestEnv();
  timers = TimerQueue.create({ redisUrl: env.redisUrl, prefix: env.redisPrefix });
  act = new ActOnTask(env.prisma, timers, SECRETS_KEY);
  await registerRunner(env.prisma, 'runner-1');
});

afterAll(async () => {
  await timers?.close();
  await env?.destroy();
});

const step = (
  key: string,
  dependsOn: string[] = [],
  extra: Partial<TaskInput> = {},
): TaskInput => ({
  key,
  depends_on: dependsOn,
  steps: [{ run: `echo ${key}` }],
  ...extra,
});

async function create(input: Omit<SubmitTicketInput, 'title'>) {
  const reply = await new CreateTicket(
    env.prisma,
    POLICY_DEFAULTS,
    undefined,
    SECRETS_KEY,
    timers,
  ).execute(SubmitTicket.parse({ title: 'a pipeline', ...input }));
  if (!reply.ok) throw new Error(`ticket refused: ${JSON.stringify(reply.error)}`);
  return reply.ticketId;
}

async function refusal(input: Omit<SubmitTicketInput, 'title'>) {
  const reply = await new CreateTicket(env.prisma, POLICY_DEFAULTS).execute(
    SubmitTicket.parse({ title: 'a pipeline', ...input }),
  );
  if (reply.ok) throw new Error('ticket accepted');
  return reply;
}

async function tasks(ticketId: string) {
  const rows = await env.prisma.task.findMany({
    where: { ticketId },
    orderBy: { position: 'asc' },
  });
  return Object.fromEntries(rows.map((t) => [t.key, t]));
}

async function statuses(ticketId: string): Promise<Record<string, TaskStatus>> {
  return Object.fromEntries(Object.entries(await tasks(ticketId)).map(([k, t]) => [k, t.status]));
}

async function ticketStatus(ticketId: string) {
  return (await env.prisma.ticket.findUniqueOrThrow({ where: { id: ticketId } })).status;
}

/** Leases what is READY, then starts and finishes `key`'s run as a runner would report it. */
async function finish(
  ticketId: string,
  key: string,
  how: {
    outcome?: 'SUCCEEDED' | 'FAILED' | 'NEEDS_INPUT';
    output?: object;
    input?: InputAsk;
    costUsd?: number;
    errorClass?: 'INFRA';
  } = {},
) {
  await leaseReadyTasks(env.prisma);
  const run = await newestRun(env.prisma, ticketId, key);
  const started = await new StartRun(env.prisma, timers, {
    leaseHeartbeats: 3,
    timeoutGraceMs: 1000,
  }).execute(startReport(run));
  expect(started.ok).toBe(true);
  const outcome = how.outcome ?? 'SUCCEEDED';
  const report = RunFinished.parse({
    runId: run.id,
    leaseToken: run.leaseToken,
    runnerId: 'runner-1',
    outcome,
    exitCode: outcome === 'FAILED' ? 1 : 0,
    errorClass: how.errorClass ?? null,
    errorMessage: outcome === 'FAILED' ? 'exit status 1' : null,
    result: {
      output: how.output ?? null,
      ...(how.costUsd === undefined
        ? {}
        : { costUsd: how.costUsd, inputTokens: 1000, outputTokens: 200 }),
    },
    finishedAt: new Date().toISOString(),
    ...(how.input ? { input: how.input } : {}),
  });
  expect(await new RecordRunFinished(env.prisma, timers).execute(report)).toBe(true);
}

describe('pipelines: outputs, templates and conditions', () => {
  it('hands upstream outputs to commands as variables, and runs a step whose condition holds', async () => {
    const ticketId = await create({
      tasks: [
        step('lint'),
        step('fix', ['lint'], {
          when: 'steps.lint.output.error_count > 0 and steps.lint.status == "SUCCEEDED"',
          steps: [
            {
              run: 'echo fixing {{ steps.lint.output.error_count }} in "{{steps.lint.output.file}}"',
            },
          ],
        }),
      ],
    });
    expect(await statuses(ticketId)).toEqual({ lint: 'READY', fix: 'PENDING' });
    await finish(ticketId, 'lint', { output: { error_count: 3, file: "it's; rm -rf /" } });
    const { fix } = await tasks(ticketId);
    expect(fix.status).toBe('READY');
    const spec = fix.spec as { steps: { run: string }[]; template_env: Record<string, string> };
    expect(spec.steps[0].run).toBe(
      'echo fixing ${DROVER_STEP_LINT_OUTPUT_ERROR_COUNT} in "${DROVER_STEP_LINT_OUTPUT_FILE}"',
    );
    expect(spec.template_env).toEqual({
      DROVER_STEP_LINT_OUTPUT_ERROR_COUNT: '3',
      DROVER_STEP_LINT_OUTPUT_FILE: "it's; rm -rf /",
    });
  });

  it('skips a step whose condition is false, with the reason, and still runs what depends on it', async () => {
    const ticketId = await create({
      tasks: [
        step('lint'),
        step('fix', ['lint'], { when: 'steps.lint.output.error_count > 0' }),
        step('test', ['fix']),
      ],
    });
    await finish(ticketId, 'lint', { output: { error_count: 0 } });
    const after = await tasks(ticketId);
    expect(after.fix.status).toBe('SKIPPED');
    expect(after.fix.reason).toBe('when was false: steps.lint.output.error_count > 0');
    expect(after.test.status).toBe('READY');
    await finish(ticketId, 'test');
    expect(await ticketStatus(ticketId)).toBe('SUCCEEDED');
  });

  it('fails a step whose template names a field its upstream did not write, and blocks its dependents', async () => {
    const ticketId = await create({
      tasks: [
        step('build'),
        step('deploy', ['build'], { steps: [{ run: 'deploy {{steps.build.output.image}}' }] }),
        step('smoke', ['deploy']),
      ],
    });
    await finish(ticketId, 'build', { output: { digest: 'sha256:1' } });
    const after = await tasks(ticketId);
    expect(after.deploy.status).toBe('FAILED');
    expect(after.deploy.reason).toMatch(/steps\.build\.output\.image.*"image"/);
    expect(after.smoke.status).toBe('BLOCKED');
    expect(await ticketStatus(ticketId)).toBe('FAILED');
    expect(await env.prisma.run.count({ where: { taskId: after.deploy.id } })).toBe(0);
  });

  it('lets dependents of an on_failure: continue step run, and does not fail the ticket for it', async () => {
    const ticketId = await create({
      tasks: [
        step('lint', [], { on_failure: 'continue' }),
        step('report', ['lint'], { when: 'steps.lint.status == "FAILED"' }),
        step('test', ['lint']),
      ],
    });
    await finish(ticketId, 'lint', { outcome: 'FAILED' });
    expect(await statuses(ticketId)).toEqual({ lint: 'FAILED', report: 'READY', test: 'READY' });
    await finish(ticketId, 'report');
    await finish(ticketId, 'test');
    expect(await ticketStatus(ticketId)).toBe('SUCCEEDED');
  });

  it('blocks the dependents of a failed step under on_failure: stop (the default)', async () => {
    const ticketId = await create({ tasks: [step('lint'), step('test', ['lint'])] });
    await finish(ticketId, 'lint', { outcome: 'FAILED' });
    expect(await statuses(ticketId)).toEqual({ lint: 'FAILED', test: 'BLOCKED' });
    expect(await ticketStatus(ticketId)).toBe('FAILED');
  });

  it('refuses at submission a reference to a step that is not upstream, and a condition that does not parse', async () => {
    const before = await env.prisma.ticket.count();
    const notUpstream = await refusal({
      tasks: [step('a'), step('b', [], { steps: [{ run: 'echo {{steps.a.output.x}}' }] })],
    });
    expect(notUpstream.ok === false && notUpstream.error.code).toBe('INVALID_PIPELINE');
    expect(JSON.stringify(notUpstream)).toContain('tasks.1.steps.0.run');
    const badWhen = await refusal({
      tasks: [step('a'), step('b', ['a'], { when: 'steps.a.output.n >' })],
    });
    expect(badWhen.ok === false && badWhen.error.details?.[0].path).toBe('tasks.1.when');
    expect(await env.prisma.ticket.count()).toBe(before);
  });
});

describe('phased tickets', () => {
  it('runs each phase after every task of the phase before it has ended well', async () => {
    const ticketId = await create({
      phases: [
        { name: 'initial', tasks: [step('plan'), step('scaffold')] },
        { name: 'implementation', tasks: [step('api'), step('ui', ['api'])] },
        { name: 'integration', tasks: [step('e2e')] },
      ],
    });
    const before = await tasks(ticketId);
    expect(before.api.phase).toBe('implementation');
    expect(await statuses(ticketId)).toMatchObject({
      plan: 'READY',
      scaffold: 'READY',
      api: 'PENDING',
      e2e: 'PENDING',
    });
    await finish(ticketId, 'plan');
    expect((await statuses(ticketId)).api).toBe('PENDING');
    await finish(ticketId, 'scaffold');
    expect(await statuses(ticketId)).toMatchObject({ api: 'READY', ui: 'PENDING', e2e: 'PENDING' });
    await finish(ticketId, 'api');
    await finish(ticketId, 'ui');
    expect((await statuses(ticketId)).e2e).toBe('READY');
  });
});

describe('approval gates', () => {
  it('waits in AWAITING_APPROVAL, and an approval (who, when, comment kept) releases it', async () => {
    const ticketId = await create({
      tasks: [step('build'), step('deploy', ['build'], { requires_approval: true })],
    });
    await finish(ticketId, 'build');
    const { deploy } = await tasks(ticketId);
    expect(deploy.status).toBe('AWAITING_APPROVAL');
    const command = { taskId: deploy.id, projectId: DEFAULT_PROJECT.id, by: BY };
    expect(await act.execute({ op: 'approve', ...command, comment: 'ship it' })).toEqual({
      ok: true,
      taskStatus: 'READY',
    });
    const approval = await env.prisma.approval.findUniqueOrThrow({ where: { taskId: deploy.id } });
    expect(approval).toMatchObject({
      decision: 'approved',
      comment: 'ship it',
      decidedBy: 'reviewer',
    });
    expect(approval.decidedAt).toBeInstanceOf(Date);
    const again = await act.execute({ op: 'reject', ...command });
    expect(again).toMatchObject({ ok: false, status: 409 });
    const other = await act.execute({
      op: 'approve',
      ...command,
      projectId: '00000000-0000-4000-8000-0000000000ff',
    });
    expect(other).toMatchObject({ ok: false, status: 404 });
  });

  it('a rejection fails the gate with the comment and blocks its dependents', async () => {
    const ticketId = await create({
      tasks: [step('deploy', [], { requires_approval: true }), step('announce', ['deploy'])],
    });
    const { deploy } = await tasks(ticketId);
    expect(deploy.status).toBe('AWAITING_APPROVAL');
    await act.execute({
      op: 'reject',
      taskId: deploy.id,
      projectId: DEFAULT_PROJECT.id,
      by: BY,
      comment: 'not on a Friday',
    });
    const after = await tasks(ticketId);
    expect(after.deploy.status).toBe('FAILED');
    expect(after.deploy.reason).toBe('rejected by reviewer: not on a Friday');
    expect(after.announce.status).toBe('BLOCKED');
    expect(await ticketStatus(ticketId)).toBe('FAILED');
  });

  it('fails a gate nobody decided within its approval_timeout', async () => {
    const ticketId = await create({
      tasks: [step('deploy', [], { requires_approval: true, approval_timeout: '1h' })],
    });
    const { deploy } = await tasks(ticketId);
    const timer = {
      kind: 'approval' as const,
      id: deploy.id,
      attempt: 1,
      dueAt: new Date().toISOString(),
    };
    const fire = new FireTimer(env.prisma, timers);
    // Early: the due time has not passed, nothing changes.
    expect(await fire.execute(timer)).toBe(false);
    // The hour passes: the approval was asked for two hours ago.
    await env.prisma.$executeRaw`
      UPDATE approval SET requested_at = requested_at - interval '2 hours',
                          due_at = due_at - interval '2 hours'
      WHERE task_id = ${deploy.id}::uuid`;
    expect(await fire.execute(timer)).toBe(true);
    const after = await tasks(ticketId);
    expect(after.deploy.status).toBe('FAILED');
    expect(after.deploy.reason).toMatch(/no approval within 3600 s/);
    const approval = await env.prisma.approval.findUniqueOrThrow({ where: { taskId: deploy.id } });
    expect(approval.decision).toBe('expired');
    expect(await fire.execute(timer)).toBe(false);
  });
});

describe('requests for input', () => {
  it('waits AWAITING_INPUT when a run asks, and runs again with the answer in its env', async () => {
    const ticketId = await create({ tasks: [step('release')] });
    await finish(ticketId, 'release', {
      outcome: 'NEEDS_INPUT',
      input: {
        name: 'CHANNEL',
        prompt: 'Which channel?',
        secret: false,
        choices: ['beta', 'stable'],
      },
    });
    const asked = (await tasks(ticketId)).release;
    expect(asked.status).toBe('AWAITING_INPUT');
    expect(asked.maxAttempts).toBe(2);
    const run = await newestRun(env.prisma, ticketId, 'release');
    expect(run.status).toBe('NEEDS_INPUT');
    const command = { taskId: asked.id, projectId: DEFAULT_PROJECT.id, by: BY };
    expect(await act.execute({ op: 'answer', ...command, value: 'nightly' })).toMatchObject({
      ok: false,
      status: 422,
      error: { code: 'NOT_A_CHOICE' },
    });
    expect(
      await act.execute({ op: 'answer', ...command, name: 'OTHER', value: 'beta' }),
    ).toMatchObject({
      ok: false,
      status: 422,
      error: { code: 'WRONG_INPUT' },
    });
    expect(await act.execute({ op: 'answer', ...command, value: 'beta' })).toEqual({
      ok: true,
      taskStatus: 'READY',
    });
    const answered = (await tasks(ticketId)).release;
    expect((answered.spec as { env: Record<string, unknown> }).env.CHANNEL).toBe('beta');
    const request = await env.prisma.inputRequest.findFirstOrThrow({ where: { taskId: asked.id } });
    expect(request).toMatchObject({ value: 'beta', answeredBy: 'reviewer' });
    expect(await act.execute({ op: 'answer', ...command, value: 'beta' })).toMatchObject({
      ok: false,
      status: 409,
    });
    await finish(ticketId, 'release');
    expect(await ticketStatus(ticketId)).toBe('SUCCEEDED');
  });

  it('seals a secret answer: not kept in the request, only sealed in the spec', async () => {
    const ticketId = await create({ tasks: [step('deploy')] });
    await finish(ticketId, 'deploy', {
      outcome: 'NEEDS_INPUT',
      input: { name: 'DEPLOY_TOKEN', prompt: 'The deploy token', secret: true },
    });
    const { deploy } = await tasks(ticketId);
    await act.execute({
      op: 'answer',
      taskId: deploy.id,
      projectId: DEFAULT_PROJECT.id,
      by: BY,
      value: 'tok-123456',
    });
    const after = (await tasks(ticketId)).deploy;
    const stored = (after.spec as { env: Record<string, { sealed: string }> }).env.DEPLOY_TOKEN;
    expect(JSON.stringify(after.spec)).not.toContain('tok-123456');
    expect(openSecret(stored.sealed, SECRETS_KEY)).toBe('tok-123456');
    const request = await env.prisma.inputRequest.findFirstOrThrow({
      where: { taskId: deploy.id },
    });
    expect(request.value).toBeNull();
  });
});

describe('cost, tokens and budgets', () => {
  it('sums what runs report into their task and ticket', async () => {
    const ticketId = await create({ tasks: [step('a'), step('b'), step('c')] });
    await finish(ticketId, 'a', { costUsd: 0.25 });
    await finish(ticketId, 'b', { costUsd: 0.5 });
    await finish(ticketId, 'c');
    const ticket = await new TicketQueries(env.prisma).getTicket(DEFAULT_PROJECT.id, ticketId);
    expect(ticket?.usage).toEqual({ costUsd: 0.75, inputTokens: 2000, outputTokens: 400 });
    expect(ticket?.tasks.map((t) => t.usage.costUsd)).toEqual([0.25, 0.5, null]);
  });

  it('starts nothing more once a run has spent the budget: waiting tasks fail with the reason', async () => {
    const ticketId = await create({
      budget_usd: 1,
      tasks: [
        step('a'),
        step('b', ['a']),
        step('c', ['b']),
        step('d', [], { retry: { max_attempts: 3 } }),
      ],
    });
    await finish(ticketId, 'd', { outcome: 'FAILED', errorClass: 'INFRA', costUsd: 0.4 });
    expect((await statuses(ticketId)).d).toBe('RETRY_WAIT');
    await finish(ticketId, 'a', { costUsd: 0.7 });
    const after = await tasks(ticketId);
    expect(after.a.status).toBe('SUCCEEDED');
    for (const key of ['b', 'c', 'd']) {
      expect(after[key].status).toBe('FAILED');
      expect(after[key].reason).toMatch(/budget of \$1\.00 is spent \(\$1\.10\)/);
    }
    expect(await ticketStatus(ticketId)).toBe('FAILED');
  });

  it('does not retry a failed run once the budget is spent', async () => {
    const ticketId = await create({
      budget_usd: 0.5,
      tasks: [step('a', [], { retry: { max_attempts: 3 } })],
    });
    await finish(ticketId, 'a', { outcome: 'FAILED', errorClass: 'INFRA', costUsd: 0.6 });
    const { a } = await tasks(ticketId);
    expect(a.status).toBe('FAILED');
    expect(a.reason).toMatch(/not retried: the ticket's budget of \$0\.50 is spent/);
  });
});

describe('workspaces', () => {
  it('keeps the workspace of a step another starts from, and names its run when releasing it', async () => {
    const ticketId = await create({
      workspace: 'shared',
      tasks: [
        step('generate'),
        step('build', ['generate']),
        step('docs', ['generate', 'build'], { workspace_from: 'build' }),
        step('alone'),
      ],
    });
    const before = await tasks(ticketId);
    const spec = (key: string) =>
      before[key].spec as { keep_workspace?: boolean; workspace_from?: string };
    expect(spec('generate')).toMatchObject({ keep_workspace: true });
    expect(spec('build')).toMatchObject({ keep_workspace: true, workspace_from: 'generate' });
    expect(spec('docs')).toMatchObject({ workspace_from: 'build' });
    expect(spec('alone').keep_workspace).toBeUndefined();
    await finish(ticketId, 'generate');
    const generated = await newestRun(env.prisma, ticketId, 'generate');
    const { build } = await tasks(ticketId);
    expect(build.status).toBe('READY');
    expect((build.spec as { workspace_run?: string }).workspace_run).toBe(generated.id);
  });

  it('refuses a workspace_from that is not a dependency, and fresh is the default', async () => {
    const refused = await refusal({
      tasks: [step('a'), step('b', [], { workspace_from: 'a' })],
    });
    expect(refused.ok === false && refused.error.details).toEqual([
      expect.objectContaining({ path: 'tasks.1.workspace_from' }),
    ]);
    const ticketId = await create({ tasks: [step('a'), step('b', ['a'])] });
    await finish(ticketId, 'a');
    const { a, b } = await tasks(ticketId);
    expect((a.spec as { keep_workspace?: boolean }).keep_workspace).toBeUndefined();
    expect((b.spec as { workspace_run?: string }).workspace_run).toBeUndefined();
  });
});
