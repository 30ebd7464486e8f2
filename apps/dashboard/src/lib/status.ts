import type { TaskStatus, TicketStatus } from '../api';

/** Every task status, in the order a task goes through them (for counts and filters). */
export const TASK_STATUSES: readonly TaskStatus[] = [
  'PENDING',
  'READY',
  'DISPATCHED',
  'RUNNING',
  'RETRY_WAIT',
  'AWAITING_APPROVAL',
  'AWAITING_INPUT',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'BLOCKED',
  'SKIPPED',
];

export const TICKET_STATUSES: readonly TicketStatus[] = [
  'PENDING',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
];

/** The colour family of a status: one CSS class per family. */
export type Tone = 'waiting' | 'active' | 'attention' | 'good' | 'bad' | 'muted';

export function toneOf(status: string): Tone {
  switch (status) {
    case 'SUCCEEDED':
    case 'ONLINE':
      return 'good';
    case 'FAILED':
    case 'TIMED_OUT':
    case 'BLOCKED':
      return 'bad';
    case 'RUNNING':
    case 'DISPATCHED':
      return 'active';
    case 'AWAITING_APPROVAL':
    case 'AWAITING_INPUT':
    case 'RETRY_WAIT':
    case 'NEEDS_INPUT':
    case 'STALE':
      return 'attention';
    case 'CANCELLED':
    case 'SKIPPED':
    case 'OFFLINE':
      return 'muted';
    default:
      return 'waiting';
  }
}

/** "AWAITING_APPROVAL" as "awaiting approval". */
export function statusLabel(status: string): string {
  return status.toLowerCase().replace(/_/g, ' ');
}
