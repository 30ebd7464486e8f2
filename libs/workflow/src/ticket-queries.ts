import { waitingOf, type LogLine, type Waiting } from '@drover/contracts';
import type {
  ListTicketsParams,
  LogPage,
  Runner,
  Served,
  Task,
  Ticket,
  TicketPage,
  TicketSummary,
  Usage,
} from '@drover/contracts/api';
import type { Prisma, PrismaClient } from '@drover/db';
import { objectColumn, textListColumn } from './json-columns';
import { maskSpec } from './mask-spec';

const encodeCursor = (createdAt: Date, id: string) =>
  Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url');

// Exactly what encodeCursor writes: anything else (a year Postgres cannot store, an
// id that is not a UUID) would reach the query and fail there.
const CURSOR =
  /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)\|([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;

function decodeCursor(cursor: string): { createdAt: Date; id: string } | null {
  const match = CURSOR.exec(Buffer.from(cursor, 'base64url').toString());
  if (!match) return null;
  const createdAt = new Date(match[1]);
  if (Number.isNaN(createdAt.getTime())) return null;
  return { createdAt, id: match[2] };
}

export class InvalidCursorError extends Error {}

/** The image a task's spec names, if any. */
function imageOf(spec: unknown): string | null {
  const image = (spec as { image?: unknown } | null)?.image;
  return typeof image === 'string' ? image : null;
}

// Each query's answer is typed by the API contract's schema (`Served`: timestamps as
// Date), so the query and what the OpenAPI document publishes cannot drift apart.

/** A ticket's tasks by status, as GET /tickets lists them. */
type TaskCounts = Served<typeof TicketSummary>['taskCounts'];

/** What runs cost, as their agents reported it (null: none reported anything). */
export type Cost = Served<typeof Usage>;

const NO_USAGE: Cost = { costUsd: null, inputTokens: null, outputTokens: null };

/** The sum of usages; a figure stays null when no part reported it. */
export function total(parts: readonly Cost[]): Cost {
  const sum = (key: keyof Cost) =>
    parts.reduce<number | null>((acc, p) => (p[key] === null ? acc : (acc ?? 0) + p[key]), null);
  return {
    costUsd: sum('costUsd'),
    inputTokens: sum('inputTokens'),
    outputTokens: sum('outputTokens'),
  };
}

const ticketFields = {
  id: true,
  title: true,
  status: true,
  priority: true,
  createdAt: true,
  updatedAt: true,
  finishedAt: true,
  labels: true,
  budgetUsd: true,
  project: { select: { slug: true, ownRunners: true } },
} as const;

/** A task's waiting columns as the API shows them: one `waiting` field (see `waitingOf`). */
function withWaiting<
  T extends { status: string; waitingReason: Waiting['reason'] | null; waitingSince: Date | null },
>(
  task: T,
  project: { slug: string; ownRunners: boolean },
  image: string | null,
): Omit<T, 'waitingReason' | 'waitingSince'> & { waiting: Waiting | null } {
  const { waitingReason, waitingSince, ...rest } = task;
  const waiting = waitingOf(
    { status: task.status, waitingReason, waitingSince },
    { ownPool: project.ownRunners ? project.slug : null, image },
  );
  return { ...rest, waiting };
}

/** What a task's pipeline settings and its approval gate show. */
const pipelineFields = {
  phase: true,
  whenExpr: true,
  onFailure: true,
  requiresApproval: true,
  reason: true,
  waitingReason: true,
  waitingSince: true,
  approval: {
    select: {
      requestedAt: true,
      dueAt: true,
      decision: true,
      comment: true,
      decidedBy: true,
      decidedAt: true,
    },
  },
} as const;

/**
 * Read side of tickets, tasks, runs, logs and runners, shaped for the API. Every
 * read of a project's data takes the caller's project: another project's id reads
 * as absent.
 */
export class TicketQueries {
  constructor(private readonly prisma: PrismaClient) {}

  async listTickets(
    projectId: string,
    q: ListTicketsParams & { limit: number },
  ): Promise<Served<typeof TicketPage>> {
    const after = q.cursor ? decodeCursor(q.cursor) : undefined;
    if (after === null) throw new InvalidCursorError('cursor is not one this API returned');
    const rows = await this.prisma.ticket.findMany({
      where: {
        projectId,
        ...(q.status ? { status: q.status } : {}),
        ...(after
          ? {
              OR: [
                { createdAt: { lt: after.createdAt } },
                { createdAt: after.createdAt, id: { lt: after.id } },
              ],
            }
          : {}),
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: q.limit + 1,
      select: { ...ticketFields, _count: { select: { tasks: true } } },
    });
    const items = rows.slice(0, q.limit);
    const last = items[items.length - 1];
    const counts = await this.taskCounts(
      projectId,
      items.map((t) => t.id),
    );
    return {
      items: items.map(({ _count, project, ...t }) => ({
        ...t,
        project: project.slug,
        taskCount: _count.tasks,
        taskCounts: counts.get(t.id) ?? {},
      })),
      nextCursor: rows.length > q.limit && last ? encodeCursor(last.createdAt, last.id) : null,
    };
  }

  /** Each ticket's tasks by status (statuses no task has are left out), by ticket id. */
  private async taskCounts(
    projectId: string,
    ticketIds: readonly string[],
  ): Promise<Map<string, TaskCounts>> {
    const byTicket = new Map<string, TaskCounts>();
    if (!ticketIds.length) return byTicket;
    const rows = await this.prisma.task.groupBy({
      by: ['ticketId', 'status'],
      where: { projectId, ticketId: { in: [...ticketIds] } },
      _count: { _all: true },
    });
    for (const row of rows) {
      const counts = byTicket.get(row.ticketId) ?? {};
      counts[row.status] = row._count._all;
      byTicket.set(row.ticketId, counts);
    }
    return byTicket;
  }

  /**
   * Runs one read (which Prisma may split into several queries, one per
   * relation) in a repeatable-read transaction: a task and its runs come from
   * one moment, never a task still RUNNING with a run that has already ended.
   */
  private async snapshot<T>(query: Prisma.PrismaPromise<T>): Promise<T> {
    const [result] = await this.prisma.$transaction([query], { isolationLevel: 'RepeatableRead' });
    return result;
  }

  async getTicket(projectId: string, id: string): Promise<Served<typeof Ticket> | null> {
    const ticket = await this.snapshot(
      this.prisma.ticket.findUnique({
        where: { id, projectId },
        select: {
          ...ticketFields,
          description: true,
          tasks: {
            orderBy: { position: 'asc' },
            select: {
              id: true,
              key: true,
              title: true,
              status: true,
              priority: true,
              agent: true,
              provider: true,
              attempt: true,
              readyAt: true,
              finishedAt: true,
              ...pipelineFields,
              dependsOn: { select: { dependsOn: { select: { key: true } } } },
            },
          },
        },
      }),
    );
    if (!ticket) return null;
    const usage = await this.usageByTask(id);
    const images = await this.imagesAwaited(projectId, ticket.tasks);
    const { project, tasks, ...rest } = ticket;
    return {
      ...rest,
      project: project.slug,
      usage: total([...usage.values()]),
      tasks: tasks.map(({ dependsOn, whenExpr, ...t }) => ({
        ...withWaiting(t, project, images.get(t.id) ?? null),
        when: whenExpr,
        usage: usage.get(t.id) ?? NO_USAGE,
        dependsOn: dependsOn.map((d) => d.dependsOn.key),
      })),
    };
  }

  async getTask(projectId: string, id: string): Promise<Served<typeof Task> | null> {
    const task = await this.snapshot(
      this.prisma.task.findUnique({
        where: { id, projectId },
        select: {
          id: true,
          ticketId: true,
          key: true,
          title: true,
          status: true,
          priority: true,
          agent: true,
          provider: true,
          spec: true,
          attempt: true,
          maxAttempts: true,
          timeoutMs: true,
          backoffBaseMs: true,
          backoffFactor: true,
          backoffCapMs: true,
          retryOn: true,
          retryAt: true,
          createdAt: true,
          readyAt: true,
          finishedAt: true,
          ...pipelineFields,
          approvalTimeoutMs: true,
          project: { select: { slug: true, ownRunners: true } },
          inputs: {
            orderBy: { requestedAt: 'asc' },
            select: {
              id: true,
              runId: true,
              name: true,
              prompt: true,
              secret: true,
              choices: true,
              requestedAt: true,
              value: true,
              answeredBy: true,
              answeredAt: true,
            },
          },
          dependsOn: { select: { dependsOn: { select: { id: true, key: true, status: true } } } },
          runs: {
            orderBy: { attempt: 'asc' },
            select: {
              id: true,
              attempt: true,
              status: true,
              runnerId: true,
              dispatchedAt: true,
              startedAt: true,
              finishedAt: true,
              leaseExpiresAt: true,
              deadlineAt: true,
              exitCode: true,
              errorClass: true,
              errorMessage: true,
              result: true,
              logLines: true,
              lostLogLines: true,
              costUsd: true,
              inputTokens: true,
              outputTokens: true,
            },
          },
        },
      }),
    );
    if (!task) return null;
    const { dependsOn, whenExpr, project, runs, ...rest } = task;
    // Secret env values are never returned: not even sealed.
    return {
      ...withWaiting(rest, project, imageOf(rest.spec)),
      usage: total(runs),
      when: whenExpr,
      spec: maskSpec(objectColumn(rest.spec, `task ${id}: spec`)),
      runs: runs.map((r) => ({
        ...r,
        result: r.result === null ? null : objectColumn(r.result, `run ${r.id}: result`),
      })),
      dependsOn: dependsOn.map((d) => d.dependsOn),
    };
  }

  /** The image each task waiting for a runner with it names, by task id (read only for those). */
  private async imagesAwaited(
    projectId: string,
    tasks: readonly { id: string; waitingReason: string | null }[],
  ): Promise<Map<string, string | null>> {
    const ids = tasks.filter((t) => t.waitingReason === 'NO_RUNNER_WITH_IMAGE').map((t) => t.id);
    if (!ids.length) return new Map();
    const rows = await this.prisma.$queryRaw<{ id: string; image: string | null }[]>`
      SELECT id, spec->>'image' AS image FROM task
      WHERE project_id = ${projectId}::uuid AND id = ANY(${ids}::uuid[])`;
    return new Map(rows.map((r) => [r.id, r.image]));
  }

  /** Cost and tokens the runs of a ticket's tasks reported, per task. */
  private async usageByTask(ticketId: string): Promise<Map<string, Cost>> {
    const rows = await this.prisma.$queryRaw<({ task_id: string } & Cost)[]>`
      SELECT task_id, sum(cost_usd)::float8 AS "costUsd", sum(input_tokens)::float8 AS "inputTokens",
             sum(output_tokens)::float8 AS "outputTokens"
      FROM run WHERE ticket_id = ${ticketId}::uuid GROUP BY task_id`;
    return new Map(rows.map(({ task_id, ...usage }) => [task_id, usage]));
  }

  /**
   * Lines `after` .. `after + limit - 1` of a run's log (0-based line numbers).
   * `after + limit` may pass the integer range of line numbers, hence bigint.
   */
  async getRunLogs(
    projectId: string,
    runId: string,
    after: number,
    limit: number,
  ): Promise<Served<typeof LogPage> | null> {
    const run = await this.prisma.run.findUnique({
      where: { id: runId, projectId },
      select: { id: true, taskId: true, status: true, logLines: true },
    });
    if (!run) return null;
    const chunks = await this.prisma.$queryRaw<{ first_line: number; lines: LogLine[] }[]>`
      SELECT first_line, lines FROM log_chunk
      WHERE run_id = ${runId}::uuid AND first_line + line_count > ${after}
        AND first_line < ${after + limit}::bigint
      ORDER BY first_line`;
    const lines: (LogLine & { n: number })[] = [];
    for (const chunk of chunks) {
      chunk.lines.forEach((line, i) => {
        const n = chunk.first_line + i;
        if (n >= after && n < after + limit) lines.push({ n, ...line });
      });
    }
    // Past the last line returned, or past the window when it holds none: a run's
    // lost lines leave gaps, which paging must step over, not read again.
    const last = lines.at(-1);
    const next = last ? last.n + 1 : after + limit;
    return {
      runId: run.id,
      taskId: run.taskId,
      status: run.status,
      totalLines: run.logLines,
      lines,
      nextAfter: next < run.logLines ? next : null,
    };
  }

  /**
   * Tasks DISPATCHED or RUNNING per provider: of every project (what a provider's
   * concurrency limit counts, so these are not the project's alone) and of `projectId`.
   */
  async activeByProvider(projectId: string) {
    return this.prisma.$queryRaw<{ provider: string; running: number; runningInProject: number }[]>`
      SELECT provider, count(*)::int AS running,
             (count(*) FILTER (WHERE project_id = ${projectId}::uuid))::int AS "runningInProject"
      FROM task WHERE status IN ('DISPATCHED', 'RUNNING')
      GROUP BY provider ORDER BY provider`;
  }

  /**
   * The runners a project's keys may see: the shared pool's and the project's own
   * (`project`: its slug; null for shared runners), never another project's.
   */
  async listRunners(projectId: string): Promise<Served<typeof Runner>[]> {
    const [runners, project] = await Promise.all([
      this.prisma.runner.findMany({
        where: { OR: [{ projectId: null }, { projectId }] },
        orderBy: [{ status: 'asc' }, { id: 'asc' }],
        select: {
          id: true,
          name: true,
          status: true,
          slots: true,
          freeSlots: true,
          capabilities: true,
          heartbeatIntervalMs: true,
          registeredAt: true,
          lastHeartbeatAt: true,
          projectId: true,
        },
      }),
      this.prisma.project.findUniqueOrThrow({ where: { id: projectId }, select: { slug: true } }),
    ]);
    return runners.map(({ projectId: pool, capabilities, ...runner }) => ({
      ...runner,
      capabilities: textListColumn(capabilities, `runner ${runner.id}: capabilities`),
      project: pool === null ? null : project.slug,
    }));
  }
}
