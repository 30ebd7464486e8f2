import { TaskStatus, TERMINAL_TASK_STATUSES, type TicketStatus } from '@drover/contracts';
import { canTransition, isTerminal, ticketStatusFor } from './task-state';

const ALL: readonly TaskStatus[] = TaskStatus.options;

describe(canTransition.name, () => {
  it.each<[TaskStatus, TaskStatus]>([
    ['PENDING', 'READY'],
    ['PENDING', 'BLOCKED'],
    ['PENDING', 'SKIPPED'],
    ['PENDING', 'AWAITING_APPROVAL'],
    ['READY', 'DISPATCHED'],
    ['DISPATCHED', 'RUNNING'],
    ['DISPATCHED', 'READY'],
    ['RUNNING', 'SUCCEEDED'],
    ['RUNNING', 'FAILED'],
    ['RUNNING', 'TIMED_OUT'],
    ['RUNNING', 'RETRY_WAIT'],
    ['RUNNING', 'AWAITING_INPUT'],
    ['RETRY_WAIT', 'READY'],
    ['AWAITING_APPROVAL', 'READY'],
    ['AWAITING_INPUT', 'RUNNING'],
  ])('allows %s -> %s', (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  it.each<[TaskStatus, TaskStatus]>([
    ['PENDING', 'RUNNING'],
    ['PENDING', 'DISPATCHED'],
    ['PENDING', 'SUCCEEDED'],
    ['READY', 'RUNNING'],
    ['READY', 'SUCCEEDED'],
    ['RUNNING', 'READY'],
    ['RUNNING', 'DISPATCHED'],
    ['RETRY_WAIT', 'RUNNING'],
    ['AWAITING_INPUT', 'SUCCEEDED'],
    ['PENDING', 'PENDING'],
    ['RUNNING', 'RUNNING'],
  ])('forbids %s -> %s', (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });

  it('lets every non-terminal state be cancelled', () => {
    for (const from of ALL.filter((s) => !isTerminal(s))) {
      expect([from, canTransition(from, 'CANCELLED')]).toEqual([from, true]);
    }
  });

  it('lets nothing leave a terminal state', () => {
    for (const from of TERMINAL_TASK_STATUSES) {
      for (const to of ALL) {
        expect([from, to, canTransition(from, to)]).toEqual([from, to, false]);
      }
    }
  });
});

describe(isTerminal.name, () => {
  it('agrees with TERMINAL_TASK_STATUSES for every status', () => {
    for (const status of ALL) {
      expect([status, isTerminal(status)]).toEqual([
        status,
        TERMINAL_TASK_STATUSES.includes(status),
      ]);
    }
  });

  it('treats the six end states as terminal and the waiting states as not', () => {
    expect(TERMINAL_TASK_STATUSES.filter(isTerminal)).toEqual([
      'SUCCEEDED',
      'FAILED',
      'TIMED_OUT',
      'CANCELLED',
      'BLOCKED',
      'SKIPPED',
    ]);
    expect(isTerminal('RETRY_WAIT')).toBe(false);
    expect(isTerminal('AWAITING_APPROVAL')).toBe(false);
    expect(isTerminal('AWAITING_INPUT')).toBe(false);
  });
});

describe(ticketStatusFor.name, () => {
  it.each<[string, TaskStatus[], TicketStatus]>([
    ['all pending', ['PENDING', 'PENDING', 'PENDING'], 'PENDING'],
    ['pending and ready only', ['PENDING', 'READY'], 'PENDING'],
    ['some dispatched', ['DISPATCHED', 'PENDING', 'PENDING'], 'RUNNING'],
    ['one running', ['RUNNING', 'READY'], 'RUNNING'],
    ['one done, others still pending', ['SUCCEEDED', 'PENDING'], 'RUNNING'],
    ['one failed while another retries', ['FAILED', 'RETRY_WAIT'], 'RUNNING'],
    ['all succeeded', ['SUCCEEDED', 'SUCCEEDED', 'SUCCEEDED'], 'SUCCEEDED'],
    ['skipped counts as success', ['SUCCEEDED', 'SKIPPED'], 'SUCCEEDED'],
    ['one failed, the rest blocked', ['FAILED', 'BLOCKED', 'BLOCKED'], 'FAILED'],
    ['one timed out, one succeeded', ['TIMED_OUT', 'SUCCEEDED'], 'FAILED'],
    ['one cancelled, the rest succeeded', ['SUCCEEDED', 'CANCELLED'], 'CANCELLED'],
    ['cancelled wins over failed', ['FAILED', 'CANCELLED', 'BLOCKED'], 'CANCELLED'],
  ])('%s', (_, statuses, expected) => {
    expect(ticketStatusFor(statuses)).toBe(expected);
  });
});
