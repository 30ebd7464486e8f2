import type { StreamEvent, Ticket, TicketTask } from '../api';
import { applyTicketEvents } from './ticket-events';

const TICKET = 'ticket-1';

const task = (i: number): TicketTask =>
  ({
    id: `task-${i}`,
    key: `t${i}`,
    status: 'PENDING',
    attempt: 0,
    waiting: null,
    dependsOn: [],
  }) as unknown as TicketTask;

const ticket = (n: number): Ticket =>
  ({
    id: TICKET,
    status: 'RUNNING',
    tasks: Array.from({ length: n }, (_, i) => task(i)),
  }) as Ticket;

const changed = (i: number, status: string, attempt?: number, ticketId = TICKET) =>
  ({
    seq: 0,
    type: 'task.changed',
    ticketId,
    data: { taskId: `task-${i}`, ticketId, key: `t${i}`, status, previous: null, attempt },
  }) as unknown as StreamEvent;

describe(applyTicketEvents.name, () => {
  it('applies a batch in order: the last change of a task wins', () => {
    const reload = jest.fn();
    const next = applyTicketEvents(
      ticket(3),
      [
        changed(0, 'DISPATCHED', 1),
        changed(0, 'RUNNING'),
        changed(2, 'READY'),
        changed(0, 'SUCCEEDED'),
      ],
      reload,
    );
    expect(next.tasks.map((t) => `${t.status}/${t.attempt}`)).toEqual([
      'SUCCEEDED/1',
      'PENDING/0',
      'READY/0',
    ]);
    expect(reload).not.toHaveBeenCalled();
  });

  it('returns the same ticket, untouched, for events that change nothing', () => {
    const before = ticket(2);
    const next = applyTicketEvents(
      before,
      [changed(0, 'PENDING'), changed(1, 'RUNNING', undefined, 'another-ticket')],
      jest.fn(),
    );
    expect(next).toBe(before);
    expect(before.tasks[1].status).toBe('PENDING');
  });

  it('reads again for a task it does not know, and for a new ticket status', () => {
    const reload = jest.fn();
    const next = applyTicketEvents(
      ticket(1),
      [
        changed(7, 'READY'),
        {
          seq: 0,
          type: 'ticket.changed',
          ticketId: TICKET,
          data: { ticketId: TICKET, status: 'SUCCEEDED', previous: 'RUNNING' },
        } as unknown as StreamEvent,
      ],
      reload,
    );
    expect(reload).toHaveBeenCalledTimes(2);
    expect(next.status).toBe('SUCCEEDED');
  });

  it('copies the task list once for a burst over 2,000 tasks', () => {
    const before = ticket(2000);
    const events = [0, 1, 2].flatMap((round) =>
      before.tasks.map((_, i) => changed(i, ['DISPATCHED', 'RUNNING', 'SUCCEEDED'][round])),
    );
    const started = performance.now();
    const next = applyTicketEvents(before, events, jest.fn());
    const ms = performance.now() - started;
    expect(next.tasks.every((t) => t.status === 'SUCCEEDED')).toBe(true);
    expect(before.tasks.every((t) => t.status === 'PENDING')).toBe(true);
    expect(ms).toBeLessThan(100);
  });
});
