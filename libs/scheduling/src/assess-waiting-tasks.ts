import { Logger } from '@nestjs/common';
import { Subjects, waitingOf, type TaskStatus, type WaitingReason } from '@drover/contracts';
import type { PrismaClient } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { waitingReasonOf } from './runner-supply';

/** A task whose waiting reason this pass changed. */
interface ChangedRow {
  id: string;
  ticket_id: string;
  key: string;
  status: TaskStatus;
  waiting_reason: WaitingReason | null;
  waiting_since: Date | null;
  slug: string;
  own_runners: boolean;
  image: string | null;
}

/**
 * Says, on each READY or DISPATCHED task, why no runner can take it, from the
 * runner registry: no runner ONLINE, none of its pool, none of its pool with its
 * image (`waitingReasonOf`). Only a change is written, with its `task.waiting`
 * event in the same transaction; a task that a runner could take again gets
 * null. A task that moved on (started, cancelled) has its stale reason cleared
 * without an event: its `task.changed` said it. Busy runners are no reason: a
 * task behind a full pool or a provider limit waits for capacity, not a runner.
 *
 * Rows another transaction holds are skipped (judged again next pass), so the
 * check never waits for a dispatch, a start or a cancel. Returns how many
 * tasks it changed.
 */
export class AssessWaitingTasks {
  private readonly logger = new Logger(AssessWaitingTasks.name);

  constructor(
    private readonly prisma: PrismaClient,
    private readonly batch = 1000,
  ) {}

  private logCounts(changed: readonly ChangedRow[]): void {
    const counts = countsOf(changed);
    if (counts) this.logger.warn(`tasks no runner can take: ${counts}`);
  }

  async execute(): Promise<number> {
    return this.prisma.$transaction(async (tx) => {
      // The status is checked again on the locked row: a task that started since
      // it was judged is left alone (its start cleared its reason).
      const changed = await tx.$queryRaw<ChangedRow[]>`
        WITH judged AS (
          SELECT t.id, t.status,
            CASE WHEN t.status IN ('READY', 'DISPATCHED') THEN ${waitingReasonOf} END AS reason
          FROM task t JOIN project p ON p.id = t.project_id
          WHERE t.status IN ('READY', 'DISPATCHED') OR t.waiting_reason IS NOT NULL),
        due AS (
          SELECT t.id, j.reason FROM task t JOIN judged j ON j.id = t.id
          WHERE t.waiting_reason IS DISTINCT FROM j.reason AND t.status = j.status
          ORDER BY t.id LIMIT ${this.batch}
          FOR NO KEY UPDATE OF t SKIP LOCKED)
        UPDATE task t SET waiting_reason = due.reason,
          waiting_since = CASE WHEN due.reason IS NULL THEN NULL
                               ELSE COALESCE(t.waiting_since, now()) END
        FROM due, project p
        WHERE t.id = due.id AND p.id = t.project_id
        RETURNING t.id, t.ticket_id, t.key, t.status, t.waiting_reason, t.waiting_since,
          p.slug, p.own_runners, t.spec->>'image' AS image`;
      const events = changed
        .filter((row) => row.status === 'READY' || row.status === 'DISPATCHED')
        .map(waitingChanged);
      await appendToOutbox(tx, events);
      this.logCounts(changed);
      return changed.length;
    });
  }
}

/** One line per pass, whatever the backlog: how many tasks now wait, for what. */
function countsOf(rows: readonly ChangedRow[]): string {
  const counts = new Map<string, number>();
  for (const r of rows)
    if (r.waiting_reason) counts.set(r.waiting_reason, (counts.get(r.waiting_reason) ?? 0) + 1);
  return [...counts].map(([reason, n]) => `${n} ${reason}`).join(', ');
}

function waitingChanged(row: ChangedRow): OutboxMessage {
  const waiting = waitingOf(
    { status: row.status, waitingReason: row.waiting_reason, waitingSince: row.waiting_since },
    { ownPool: row.own_runners ? row.slug : null, image: row.image },
  );
  return {
    subject: Subjects.taskWaitingChanged,
    ticketId: row.ticket_id,
    data: { taskId: row.id, ticketId: row.ticket_id, key: row.key, status: row.status, waiting },
  };
}
