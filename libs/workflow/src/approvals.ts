import type { Actor, TaskStatus } from '@drover/contracts';
import type { Tx } from '@drover/db';
import type { OutboxMessage } from '@drover/events';
import { taskChanged } from './outbox-messages';
import { afterTaskEnded } from './task-ending';
import type { Effects } from './use-cases/report-use-case';

export interface ApprovalOutcome {
  decision: 'approved' | 'rejected' | 'expired';
  comment: string | null;
  /** Null when the approval expired. */
  by: Actor | null;
}

/**
 * Ends a task's open approval: approved, the task is READY; rejected or
 * expired, it FAILS with the reason, and what follows a failure follows.
 * Compare-and-set: only an undecided approval of a task still AWAITING_APPROVAL
 * (an expiry: only one whose due time has passed) changes; returns the task's
 * new status, or undefined when nothing changed.
 */
export async function decideApproval(
  tx: Tx,
  taskId: string,
  outcome: ApprovalOutcome,
  events: OutboxMessage[],
  effects: Effects,
): Promise<TaskStatus | undefined> {
  const [approval] = await tx.$queryRaw<{ due_at: Date | null; requested_at: Date }[]>`
    UPDATE approval a SET decision = ${outcome.decision}::"ApprovalDecision",
                          comment = ${outcome.comment}, decided_by = ${outcome.by?.name ?? null},
                          decided_by_key = ${outcome.by?.keyId ?? null}::uuid, decided_at = now()
    FROM task t
    WHERE a.task_id = ${taskId}::uuid AND t.id = a.task_id AND a.decision IS NULL
      AND t.status = 'AWAITING_APPROVAL'
      AND (${outcome.decision} <> 'expired' OR a.due_at <= now())
    RETURNING a.due_at, a.requested_at`;
  if (!approval) return undefined;
  const status: TaskStatus = outcome.decision === 'approved' ? 'READY' : 'FAILED';
  const reason = reasonFor(outcome, approval);
  const [task] = await tx.$queryRaw<{ id: string; ticket_id: string; key: string }[]>`
    UPDATE task SET status = ${status}::"TaskStatus", reason = ${reason},
                    ready_at = CASE WHEN ${status} = 'READY' THEN now() ELSE ready_at END,
                    finished_at = CASE WHEN ${status} = 'FAILED' THEN now() ELSE NULL END,
                    updated_at = now()
    WHERE id = ${taskId}::uuid AND status = 'AWAITING_APPROVAL'
    RETURNING id, ticket_id, key`;
  const ref = { id: task.id, ticketId: task.ticket_id, key: task.key };
  events.push(taskChanged(ref, status, 'AWAITING_APPROVAL', { reason }));
  if (status === 'FAILED') await afterTaskEnded(tx, ref, status, events, 0, effects);
  return status;
}

function reasonFor(
  outcome: ApprovalOutcome,
  approval: { due_at: Date | null; requested_at: Date },
): string {
  const comment = outcome.comment ? `: ${outcome.comment}` : '';
  switch (outcome.decision) {
    case 'approved':
      return `approved by ${outcome.by?.name ?? '?'}${comment}`;
    case 'rejected':
      return `rejected by ${outcome.by?.name ?? '?'}${comment}`;
    case 'expired': {
      const waited = approval.due_at
        ? Math.round((approval.due_at.getTime() - approval.requested_at.getTime()) / 1000)
        : 0;
      return `no approval within ${waited} s: the approval timed out`;
    }
  }
}
