import { randomUUID } from 'node:crypto';
import { SubmitTicket, type CreateTicketReply } from '@drover/contracts';
import { createPrismaClient } from '@drover/db';
import { createTestEnv, POLICY_DEFAULTS, type TestEnv } from '@drover/testing';
import { hourlyLimit, type QuotaRefusal, type SubmissionQuota } from './submission-quota';
import { CreateTicket } from './use-cases/create-ticket';

let env: TestEnv;

beforeAll(async () => {
  env = await createTestEnv();
});

afterAll(async () => {
  await env?.destroy();
});

/** A new project of its own, so each test counts only its own tasks. */
async function newProject(maxTasksPerHour: number | null): Promise<{ id: string; slug: string }> {
  const slug = `quota-${randomUUID().slice(0, 8)}`;
  const row = await env.prisma.project.create({ data: { slug, name: slug, maxTasksPerHour } });
  return { id: row.id, slug };
}

/** A ticket of `count` independent tasks for `project`. */
function ticket(project: string, count: number) {
  return SubmitTicket.parse({
    title: `${count} tasks`,
    project,
    tasks: Array.from({ length: count }, (_, i) => ({ key: `t${i}`, steps: [{ run: 'true' }] })),
  });
}

function useCase(quota: SubmissionQuota = { maxTasksPerHour: 0 }, prisma = env.prisma) {
  return new CreateTicket(prisma, POLICY_DEFAULTS, quota);
}

function refusal(reply: CreateTicketReply): QuotaRefusal['error'] & { status: number } {
  if (reply.ok) throw new Error(`expected a refusal, got ticket ${reply.ticketId}`);
  return { status: reply.status, ...reply.error };
}

/** Counts of every table a ticket writes to, for one project where it has the column. */
async function rowCounts(projectId: string) {
  const [tickets, tasks, events] = await Promise.all([
    env.prisma.ticket.count({ where: { projectId } }),
    env.prisma.task.count({ where: { projectId } }),
    env.prisma.event.count(),
  ]);
  return { tickets, tasks, events };
}

/** Moves the creation time of a ticket's tasks `minutes` into the past. */
async function age(reply: CreateTicketReply, minutes: number): Promise<void> {
  if (!reply.ok) throw new Error('expected a ticket');
  await env.prisma.$executeRaw`
    UPDATE task SET created_at = now() - make_interval(mins => ${minutes}::int)
    WHERE ticket_id = ${reply.ticketId}::uuid`;
}

describe(hourlyLimit.name, () => {
  it("takes the project's own limit, else the default, and 0 as none", () => {
    expect(hourlyLimit(5, 100)).toBe(5);
    expect(hourlyLimit(null, 100)).toBe(100);
    expect(hourlyLimit(null, 0)).toBeNull();
    expect(hourlyLimit(0, 100)).toBeNull();
  });
});

describe('CreateTicket with an hourly quota', () => {
  it('accepts tickets up to the limit exactly', async () => {
    const project = await newProject(10);
    const create = useCase();

    expect(await create.execute(ticket(project.slug, 4))).toMatchObject({ ok: true, taskCount: 4 });
    expect(await create.execute(ticket(project.slug, 6))).toMatchObject({ ok: true, taskCount: 6 });
    expect((await rowCounts(project.id)).tasks).toBe(10);
  });

  it('refuses the task past the limit with 429 and a retry time, writing nothing', async () => {
    const project = await newProject(10);
    const create = useCase();
    expect((await create.execute(ticket(project.slug, 10))).ok).toBe(true);
    const before = await rowCounts(project.id);

    const error = refusal(await create.execute(ticket(project.slug, 1)));

    expect(error.status).toBe(429);
    expect(error.code).toBe('QUOTA_EXCEEDED');
    expect(error.message).toContain('10 tasks per hour');
    expect(error.message).toContain('10 were submitted in the last hour');
    expect(error.message).toContain('this ticket adds 1');
    // The oldest of the hour's tasks was created just now: it leaves the window in an hour.
    expect(error.retryAfterSeconds).toBeGreaterThan(3_500);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(3_600);
    expect(await rowCounts(project.id)).toEqual(before);
  });

  it('asks to retry when enough of the hour’s tasks will have aged out', async () => {
    const project = await newProject(6);
    const create = useCase();
    const oldest = await create.execute(ticket(project.slug, 2));
    const middle = await create.execute(ticket(project.slug, 2));
    expect((await create.execute(ticket(project.slug, 2))).ok).toBe(true);
    await age(oldest, 50);
    await age(middle, 30);

    // 6 + 3 is 3 too many: room comes when the third oldest (created 30 minutes ago) leaves.
    const error = refusal(await create.execute(ticket(project.slug, 3)));

    expect(error.status).toBe(429);
    expect(error.retryAfterSeconds).toBeGreaterThan(30 * 60 - 60);
    expect(error.retryAfterSeconds).toBeLessThanOrEqual(30 * 60);
  });

  it('no longer counts tasks created more than an hour ago', async () => {
    const project = await newProject(4);
    const create = useCase();
    await age(await create.execute(ticket(project.slug, 4)), 61);

    expect(await create.execute(ticket(project.slug, 4))).toMatchObject({ ok: true });
    expect(refusal(await create.execute(ticket(project.slug, 1))).status).toBe(429);
  });

  it('never lets concurrent submissions of one project pass the limit', async () => {
    const project = await newProject(10);
    const prisma = createPrismaClient(env.databaseUrl, 12);
    try {
      const create = useCase(undefined, prisma);
      const replies = await Promise.all(
        Array.from({ length: 10 }, () => create.execute(ticket(project.slug, 3))),
      );

      // Three tickets of 3 fit in 10; each of the others would make 12.
      expect(replies.filter((r) => r.ok)).toHaveLength(3);
      const refused = replies.filter((r) => !r.ok).map(refusal);
      expect(refused).toHaveLength(7);
      expect(refused.every((e) => e.status === 429 && e.code === 'QUOTA_EXCEEDED')).toBe(true);
      expect(await rowCounts(project.id)).toMatchObject({ tickets: 3, tasks: 9 });
    } finally {
      await prisma.$disconnect();
    }
  });

  it("applies the project's own limit over the configured default", async () => {
    const raised = await newProject(5);
    const unlimited = await newProject(0);
    const plain = await newProject(null);
    const create = useCase({ maxTasksPerHour: 2 });

    expect((await create.execute(ticket(raised.slug, 5))).ok).toBe(true);
    expect((await create.execute(ticket(unlimited.slug, 20))).ok).toBe(true);
    expect((await create.execute(ticket(plain.slug, 2))).ok).toBe(true);
    expect(refusal(await create.execute(ticket(plain.slug, 1))).status).toBe(429);
    expect(refusal(await create.execute(ticket(raised.slug, 1))).message).toContain(
      '5 tasks per hour',
    );
  });

  it('refuses a ticket larger than the whole quota with 422 and no retry time', async () => {
    const project = await newProject(5);
    const before = await rowCounts(project.id);

    const error = refusal(await useCase().execute(ticket(project.slug, 6)));

    expect(error.status).toBe(422);
    expect(error.code).toBe('QUOTA_EXCEEDED');
    expect(error.message).toContain('can never fit');
    expect(error.message).toContain('at most 5 tasks per hour');
    expect(error.retryAfterSeconds).toBeUndefined();
    expect(error.details?.map((d) => d.path)).toEqual(['tasks']);
    expect(await rowCounts(project.id)).toEqual(before);
  });

  it('returns the first ticket to a repeat of its request, even with the quota full', async () => {
    const project = await newProject(3);
    const create = useCase();
    const requestId = randomUUID();
    const first = await create.execute(ticket(project.slug, 3), undefined, requestId);
    if (!first.ok) throw new Error('expected the first ticket to be accepted');

    const again = await create.execute(ticket(project.slug, 3), undefined, requestId);

    expect(again).toEqual(first);
    expect(refusal(await create.execute(ticket(project.slug, 1))).status).toBe(429);
  });

  it('gives both copies of a request racing for the last room the same ticket', async () => {
    const project = await newProject(3);
    const prisma = createPrismaClient(env.databaseUrl, 4);
    try {
      const create = useCase(undefined, prisma);
      const requestId = randomUUID();
      const [a, b] = await Promise.all(
        [1, 2].map(() => create.execute(ticket(project.slug, 3), undefined, requestId)),
      );

      expect(a.ok && b.ok).toBe(true);
      expect(a).toEqual(b);
      expect(await rowCounts(project.id)).toMatchObject({ tickets: 1, tasks: 3 });
    } finally {
      await prisma.$disconnect();
    }
  });
});
