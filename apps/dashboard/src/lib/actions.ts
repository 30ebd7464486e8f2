// Which actions the dashboard offers: the ones the status allows and the key's role
// may take. The gateway decides in the end (403 for a viewer, 409 for a status
// that changed meanwhile); this only keeps buttons off the page that cannot work.
import type { KeyRole, TaskStatus, TicketStatus } from '../api';

/** Statuses a task or ticket never leaves on its own. */
const FINAL_TASK: readonly TaskStatus[] = [
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'BLOCKED',
  'SKIPPED',
];

/** Final task statuses a rerun starts again (as the contracts' RERUNNABLE_TASK_STATUSES). */
export const RERUNNABLE: readonly TaskStatus[] = ['FAILED', 'TIMED_OUT', 'CANCELLED', 'BLOCKED'];

const OPEN_TICKET: readonly TicketStatus[] = ['PENDING', 'RUNNING'];

/** Members and admins act on work (cancel, approve, answer, rerun); viewers only read. */
export function mayAct(role: KeyRole): boolean {
  return role === 'member' || role === 'admin';
}

export interface TaskActions {
  cancel: boolean;
  /** Approve or reject: the task waits at its approval gate. */
  decide: boolean;
  /** Answer its open request for input. */
  answer: boolean;
  rerun: boolean;
}

export function taskActions(role: KeyRole, status: TaskStatus): TaskActions {
  const may = mayAct(role);
  return {
    cancel: may && !FINAL_TASK.includes(status),
    decide: may && status === 'AWAITING_APPROVAL',
    answer: may && status === 'AWAITING_INPUT',
    rerun: may && RERUNNABLE.includes(status),
  };
}

export interface TicketActions {
  cancel: boolean;
  rerun: boolean;
}

/** A ticket is cancelled while open, rerun once final with a task that did not succeed. */
export function ticketActions(
  role: KeyRole,
  status: TicketStatus,
  tasks: readonly { status: TaskStatus }[],
): TicketActions {
  const may = mayAct(role);
  const open = OPEN_TICKET.includes(status);
  return {
    cancel: may && open,
    rerun: may && !open && tasks.some((t) => RERUNNABLE.includes(t.status)),
  };
}

/** The open input request of a task: the last one not answered. */
export function openRequest<T extends { answeredAt: string | null }>(
  inputs: readonly T[],
): T | undefined {
  return inputs.findLast((i) => i.answeredAt === null);
}

/** Several tasks as "build, test and 3 more". */
export function someKeys(tasks: readonly { key: string }[], shown = 3): string {
  const keys = tasks.slice(0, shown).map((t) => t.key);
  const more = tasks.length - keys.length;
  if (more > 0) return `${keys.join(', ')} and ${more} more`;
  if (keys.length <= 1) return keys.join('');
  return `${keys.slice(0, -1).join(', ')} and ${keys.at(-1) ?? ''}`;
}
