import type { TaskStatus } from '@drover/contracts';
import type { Tx } from '@drover/db';
import type { OutboxMessage } from '@drover/events';
import { taskChanged } from './outbox-messages';

/** What a run's result says it spent: the agent's own report, else nothing. */
export function usageOf(result: Record<string, unknown> | null): {
  costUsd: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
} {
  const num = (key: string, integer: boolean): number | null => {
    const value = result?.[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return null;
    return integer ? Math.min(Math.round(value), 2 ** 31 - 1) : value;
  };
  return {
    costUsd: num('costUsd', false),
    inputTokens: num('inputTokens', true),
    outputTokens: num('outputTokens', true),
  };
}

/** The ticket's budget and what its runs spent, when it has a budget and it is spent. */
export async function spentBudget(
  tx: Tx,
  ticketId: string,
): Promise<{ budget: number; spent: number } | undefined> {
  const [row] = await tx.$queryRaw<{ budget: number | null; spent: number }[]>`
    SELECT t.budget_usd AS budget,
           COALESCE((SELECT sum(r.cost_usd) FROM run r WHERE r.ticket_id = t.id), 0)::float8 AS spent
    FROM ticket t WHERE t.id = ${ticketId}::uuid`;
  if (!row || row.budget === null || row.spent < row.budget) return undefined;
  return { budget: row.budget, spent: row.spent };
}

const WAITING: readonly TaskStatus[] = [
  'PENDING',
  'READY',
  'RETRY_WAIT',
  'AWAITING_APPROVAL',
  'AWAITING_INPUT',
];

/**
 * A ticket whose budget is spent starts nothing more: every task still waiting
 * (to be released, dispatched, retried, approved or answered) FAILS with the
 * reason. Runs already dispatched or running finish. Returns how many tasks
 * closed, for the caller's `closeTasks`.
 */
export async function stopForBudget(
  tx: Tx,
  ticketId: string,
  usage: { budget: number; spent: number },
  events: OutboxMessage[],
): Promise<number> {
  const reason = `the ticket's budget of $${usage.budget.toFixed(2)} is spent ($${usage.spent.toFixed(2)}): no further attempt starts`;
  const stopped = await tx.$queryRaw<
    { id: string; ticket_id: string; key: string; previous: TaskStatus }[]
  >`
    WITH waiting AS (
      SELECT id, status FROM task
      WHERE ticket_id = ${ticketId}::uuid AND status = ANY(${WAITING}::"TaskStatus"[])
      ORDER BY id FOR UPDATE)
    UPDATE task t SET status = 'FAILED', reason = ${reason}, retry_at = NULL,
                      finished_at = now(), updated_at = now()
    FROM waiting w WHERE t.id = w.id
    RETURNING t.id, t.ticket_id, t.key, w.status AS previous`;
  for (const t of stopped) {
    events.push(
      taskChanged({ id: t.id, ticketId: t.ticket_id, key: t.key }, 'FAILED', t.previous, {
        reason,
      }),
    );
  }
  return stopped.length;
}
