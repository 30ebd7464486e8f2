import type { TaskStatus, TicketStatus } from '@drover/contracts';

/** Every transition the task state machine allows. */
const TRANSITIONS: Readonly<Record<TaskStatus, readonly TaskStatus[]>> = {
  PENDING: ['READY', 'BLOCKED', 'CANCELLED', 'SKIPPED', 'AWAITING_APPROVAL'],
  READY: ['DISPATCHED', 'CANCELLED'],
  DISPATCHED: ['RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'RETRY_WAIT', 'READY'],
  RUNNING: ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'RETRY_WAIT', 'AWAITING_INPUT'],
  RETRY_WAIT: ['READY', 'CANCELLED'],
  AWAITING_APPROVAL: ['READY', 'FAILED', 'CANCELLED'],
  AWAITING_INPUT: ['RUNNING', 'FAILED', 'CANCELLED'],
  SUCCEEDED: [],
  FAILED: [],
  TIMED_OUT: [],
  CANCELLED: [],
  BLOCKED: [],
  SKIPPED: [],
};

export function canTransition(from: TaskStatus, to: TaskStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(status: TaskStatus): boolean {
  return TRANSITIONS[status].length === 0;
}

/**
 * A ticket's status from its tasks': RUNNING while any task is not terminal
 * (PENDING if none has started), then SUCCEEDED when every task succeeded (or was
 * skipped), CANCELLED when any was cancelled, FAILED otherwise.
 */
export function ticketStatusFor(statuses: readonly TaskStatus[]): TicketStatus {
  if (statuses.some((s) => !isTerminal(s))) {
    const started = statuses.some((s) => s !== 'PENDING' && s !== 'READY');
    return started ? 'RUNNING' : 'PENDING';
  }
  if (statuses.every((s) => s === 'SUCCEEDED' || s === 'SKIPPED')) return 'SUCCEEDED';
  if (statuses.includes('CANCELLED')) return 'CANCELLED';
  return 'FAILED';
}
