import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { TaskSpec } from '@drover/contracts';
import type { Prisma, PrismaClient } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { contextFromTraceparent, SpanKind, traceparentOf, tracer } from '@drover/telemetry';
import {
  lockDispatch,
  runChanged,
  runDispatched,
  taskChanged,
  ticketChanged,
} from '@drover/workflow';
import {
  chooseDispatch,
  limitFor,
  projectLimit,
  projectRoom,
  type Limits,
  type ProjectLimits,
} from './choose-dispatch';
import { heldForImage } from './runner-supply';

/** Records a dispatch span in the ticket's trace; returns its context for the work message. */
function traceDispatch(task: ChosenTask, runId: string): string | null {
  const span = tracer().startSpan(
    'dispatch task',
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'drover.service': 'scheduler',
        'drover.ticket_id': task.ticket_id,
        'drover.task_id': task.id,
        'drover.run_id': runId,
      },
    },
    contextFromTraceparent(task.traceparent),
  );
  const traceparent = traceparentOf(span);
  span.end();
  return traceparent;
}

interface CandidateRow {
  id: string;
  project_id: string;
  provider: string;
  priority: number;
  ready_at: Date;
}

/** What a chosen task's run and work message are made of. */
interface ChosenTask {
  id: string;
  ticket_id: string;
  project_id: string;
  key: string;
  agent: string;
  spec: TaskSpec;
  attempt: number;
  timeout_ms: number;
  traceparent: string | null;
  /** The project's: its tasks go only to its own runner pool. */
  own_runners: boolean;
}

/** Tasks DISPATCHED or RUNNING, per provider and per project. */
interface Active {
  byProvider: Record<string, number>;
  byProject: Record<string, number>;
}

/**
 * One scheduling pass: in a single transaction, under an advisory lock shared by
 * every scheduler (and every cancel), count active tasks per provider and per project, read the
 * best READY tasks within each provider's and each project's free capacity,
 * create a run with a fresh lease token for each chosen task, and queue the work
 * for runners through the outbox. Returns how many tasks were dispatched.
 *
 * `projectDefault` is the most active tasks of a project whose row sets no
 * `max_running_tasks`; 0 (and a row's 0) means no limit.
 */
export class DispatchReadyTasks {
  private readonly logger = new Logger(DispatchReadyTasks.name);

  constructor(
    private readonly prisma: PrismaClient,
    private readonly limits: Limits,
    private readonly batchSize: number,
    private readonly projectDefault = 0,
  ) {}

  async execute(): Promise<number> {
    return this.prisma.$transaction(
      async (tx) => {
        // Serialises claims across schedulers so limits hold however many run.
        await lockDispatch(tx);
        const active = await countActive(tx);
        const projects = await this.projectLimits(tx, active.byProject);
        const rows = await this.candidates(tx, active.byProvider, projects);
        const chosen = chooseDispatch(
          rows.map((r) => ({ ...r, projectId: r.project_id, readyAt: r.ready_at.getTime() })),
          active.byProvider,
          this.limits,
          this.batchSize,
          projects,
        );
        if (!chosen.length) return 0;
        return this.dispatch(
          tx,
          await readChosen(
            tx,
            chosen.map((c) => c.id),
          ),
        );
      },
      { timeout: 30_000 },
    );
  }

  /** The running-task limits of the projects, as their rows and the default set them. */
  private async projectLimits(
    tx: Prisma.TransactionClient,
    active: Record<string, number>,
  ): Promise<ProjectLimits> {
    const own = await tx.project.findMany({
      where: { maxRunningTasks: { not: null } },
      select: { id: true, maxRunningTasks: true },
    });
    return {
      active,
      limits: Object.fromEntries(
        own.map((p) => [p.id, projectLimit(p.maxRunningTasks, this.projectDefault)]),
      ),
      fallback: projectLimit(null, this.projectDefault),
    };
  }

  /**
   * The READY tasks that can be chosen (not one held for an image no runner of its
   * pool has: see `heldForImage`): per project and provider, only as many
   * of the best as both have room for (and the batch). The greedy choice takes a
   * prefix of each such group, so no task it would take is left out, and a
   * project or provider at its limit contributes nothing.
   */
  private candidates(
    tx: Prisma.TransactionClient,
    activeByProvider: Record<string, number>,
    projects: ProjectLimits,
  ): Promise<CandidateRow[]> {
    const batch = this.batchSize;
    const providerRooms: Record<string, number> = {};
    for (const provider of Object.keys({ ...this.limits, ...activeByProvider })) {
      const left = limitFor(this.limits, provider) - (activeByProvider[provider] ?? 0);
      providerRooms[provider] = Math.min(batch, Math.max(0, left));
    }
    const projectRooms: Record<string, number> = {};
    for (const projectId of Object.keys({ ...projects.limits, ...projects.active })) {
      projectRooms[projectId] = Math.min(batch, projectRoom(projects, projectId));
    }
    // A provider or project in neither map has nothing active and the default limit.
    const providerFallback = Math.min(batch, this.limits.default);
    const projectFallback = Math.min(batch, projects.fallback);
    return tx.$queryRaw<CandidateRow[]>`
      SELECT id, project_id, provider, priority, ready_at FROM (
        SELECT t.id, t.project_id, t.provider, t.priority, t.ready_at, row_number() OVER (
          PARTITION BY t.project_id, t.provider ORDER BY t.priority DESC, t.ready_at, t.id) AS rn
        FROM task t JOIN project p ON p.id = t.project_id
        WHERE t.status = 'READY' AND NOT ${heldForImage}) c
      WHERE rn <= LEAST(
        COALESCE((${JSON.stringify(providerRooms)}::jsonb ->> provider)::int, ${providerFallback}::int),
        COALESCE((${JSON.stringify(projectRooms)}::jsonb ->> project_id::text)::int, ${projectFallback}::int))`;
  }

  private async dispatch(tx: Prisma.TransactionClient, candidates: ChosenTask[]): Promise<number> {
    // Compare-and-set: a task cancelled since it was read is not dispatched.
    const claimed = new Set(
      (
        await tx.$queryRaw<{ id: string }[]>`
          UPDATE task SET status = 'DISPATCHED', attempt = attempt + 1, updated_at = now()
          WHERE id = ANY(${candidates.map((t) => t.id)}::uuid[]) AND status = 'READY'
          RETURNING id`
      ).map((r) => r.id),
    );
    const tasks = candidates.filter((t) => claimed.has(t.id));
    if (!tasks.length) return 0;
    const now = new Date();
    const runs = tasks.map((t) => ({
      id: randomUUID(),
      taskId: t.id,
      ticketId: t.ticket_id,
      projectId: t.project_id,
      attempt: t.attempt + 1,
      leaseToken: randomUUID(),
      dispatchedAt: now,
    }));
    await tx.run.createMany({ data: runs });
    const ticketIds = [...new Set(tasks.map((t) => t.ticket_id))];
    const started = await tx.$queryRaw<{ id: string }[]>`
      UPDATE ticket SET status = 'RUNNING', updated_at = now()
      WHERE id = ANY(${ticketIds}::uuid[]) AND status = 'PENDING' RETURNING id`;
    const events: OutboxMessage[] = started.map((t) => ticketChanged(t.id, 'RUNNING', 'PENDING'));
    tasks.forEach((task, i) => {
      const run = runs[i];
      const work = {
        runId: run.id,
        taskId: task.id,
        ticketId: task.ticket_id,
        attempt: run.attempt,
        leaseToken: run.leaseToken,
        agent: task.agent,
        spec: task.spec,
        timeoutMs: task.timeout_ms,
      };
      // Dispatch joins the ticket's trace, whatever woke the scheduler.
      const traceparent = traceDispatch(task, run.id);
      events.push(
        {
          ...taskChanged(
            { id: task.id, ticketId: task.ticket_id, key: task.key },
            'DISPATCHED',
            'READY',
            { attempt: run.attempt },
          ),
          traceparent,
        },
        {
          ...runChanged({ ...run, runnerId: null, exitCode: null, errorClass: null }, 'DISPATCHED'),
          traceparent,
        },
        runDispatched(
          work,
          { projectId: task.project_id, ownRunners: task.own_runners },
          traceparent,
        ),
      );
    });
    await appendToOutbox(tx, events);
    this.logger.debug(`dispatched ${tasks.length} tasks`);
    return tasks.length;
  }
}

async function countActive(tx: Prisma.TransactionClient): Promise<Active> {
  const rows = await tx.$queryRaw<{ provider: string; project_id: string; n: number }[]>`
    SELECT provider, project_id, count(*)::int AS n FROM task
    WHERE status IN ('DISPATCHED', 'RUNNING') GROUP BY provider, project_id`;
  const active: Active = { byProvider: {}, byProject: {} };
  for (const { provider, project_id: projectId, n } of rows) {
    active.byProvider[provider] = (active.byProvider[provider] ?? 0) + n;
    active.byProject[projectId] = (active.byProject[projectId] ?? 0) + n;
  }
  return active;
}

/** The chosen tasks in full, in the order chosen. */
async function readChosen(tx: Prisma.TransactionClient, ids: string[]): Promise<ChosenTask[]> {
  const rows = await tx.$queryRaw<ChosenTask[]>`
    SELECT t.id, t.ticket_id, t.project_id, t.key, t.agent, t.spec, t.attempt, t.timeout_ms,
      k.traceparent, p.own_runners
    FROM task t JOIN ticket k ON k.id = t.ticket_id JOIN project p ON p.id = t.project_id
    WHERE t.id = ANY(${ids}::uuid[])`;
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}
