import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { TaskSpec } from '@drover/contracts';
import type { Prisma, PrismaClient } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { contextFromTraceparent, SpanKind, traceparentOf, tracer } from '@drover/telemetry';
import { runChanged, runDispatched, taskChanged, ticketChanged } from '@drover/workflow';
import { chooseDispatch, limitFor, type Limits } from './choose-dispatch';

/** Records a dispatch span in the ticket's trace; returns its context for the work message. */
function traceDispatch(task: CandidateRow, runId: string): string | null {
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

// Serialises claims across schedulers so limits hold however many run.
const DISPATCH_LOCK = 72_707_371;

interface CandidateRow {
  id: string;
  ticket_id: string;
  project_id: string;
  key: string;
  provider: string;
  priority: number;
  ready_at: Date;
  agent: string;
  spec: TaskSpec;
  attempt: number;
  timeout_ms: number;
  traceparent: string | null;
}

/**
 * One scheduling pass: in a single transaction, under an advisory lock shared by
 * every scheduler, count active runs per provider, read the best READY tasks
 * within each provider's free capacity, create a run with a fresh lease token
 * for each chosen task, and queue the work for runners through the outbox.
 * Returns how many tasks were dispatched.
 */
export class DispatchReadyTasks {
  private readonly logger = new Logger(DispatchReadyTasks.name);

  constructor(
    private readonly prisma: PrismaClient,
    private readonly limits: Limits,
    private readonly batchSize: number,
  ) {}

  async execute(): Promise<number> {
    return this.prisma.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(${DISPATCH_LOCK}::bigint)`;
        const activeRows = await tx.$queryRaw<{ provider: string; n: number }[]>`
          SELECT provider, count(*)::int AS n FROM task
          WHERE status IN ('DISPATCHED', 'RUNNING') GROUP BY provider`;
        const active = Object.fromEntries(activeRows.map((r) => [r.provider, r.n]));
        const caps: Record<string, number> = {};
        for (const provider of Object.keys({ ...this.limits, ...active })) {
          caps[provider] = Math.max(0, limitFor(this.limits, provider) - (active[provider] ?? 0));
        }
        // Per provider, only as many of the best candidates as it has room for.
        const rows = await tx.$queryRaw<CandidateRow[]>`
          SELECT id, ticket_id, project_id, key, provider, priority, ready_at, agent, spec, attempt,
            timeout_ms,
            (SELECT traceparent FROM ticket WHERE ticket.id = c.ticket_id) AS traceparent FROM (
            SELECT t.*, row_number() OVER (
              PARTITION BY provider ORDER BY priority DESC, ready_at, id) AS rn
            FROM task t WHERE status = 'READY') c
          WHERE rn <= LEAST(${this.batchSize}::int, COALESCE((${JSON.stringify(caps)}::jsonb ->> provider)::int, ${this.limits.default}::int))`;
        const chosen = chooseDispatch(
          rows.map((r) => ({ ...r, readyAt: r.ready_at.getTime() })),
          active,
          this.limits,
          this.batchSize,
        );
        if (!chosen.length) return 0;
        const byId = new Map(rows.map((r) => [r.id, r]));
        return this.dispatch(
          tx,
          chosen.map((c) => byId.get(c.id) as CandidateRow),
        );
      },
      { timeout: 30_000 },
    );
  }

  private async dispatch(
    tx: Prisma.TransactionClient,
    candidates: CandidateRow[],
  ): Promise<number> {
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
        runDispatched(work, traceparent),
      );
    });
    await appendToOutbox(tx, events);
    this.logger.debug(`dispatched ${tasks.length} tasks`);
    return tasks.length;
  }
}
