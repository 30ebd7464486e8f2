import type { StreamEvent, Ticket, TicketTask } from '../api';

/**
 * A frame's events applied to a ticket at once: its status, and its tasks'
 * statuses, waits and attempts, copying the task list once per batch however
 * many of its 2,000 tasks changed. Returns the same ticket when nothing changed;
 * calls `reload` for what events do not carry (a new task, the ticket's finish
 * time and usage once its status changes).
 */
export function applyTicketEvents(
  ticket: Ticket,
  events: readonly StreamEvent[],
  reload: () => void,
): Ticket {
  let status = ticket.status;
  let tasks: TicketTask[] | undefined;
  let index: Map<string, number> | undefined;
  for (const event of events) {
    if (event.ticketId !== ticket.id) continue;
    if (event.type === 'ticket.changed') {
      if (event.data.status !== status) {
        status = event.data.status;
        reload();
      }
      continue;
    }
    if (event.type !== 'task.changed' && event.type !== 'task.waiting') continue;
    index ??= new Map(ticket.tasks.map((t, i) => [t.id, i]));
    const at = index.get(event.data.taskId);
    if (at === undefined) {
      reload();
      continue;
    }
    const task = (tasks ?? ticket.tasks)[at];
    const waiting = event.type === 'task.waiting' ? event.data.waiting : task.waiting;
    const attempt =
      (event.type === 'task.changed' ? event.data.attempt : undefined) ?? task.attempt;
    if (task.status === event.data.status && task.waiting === waiting && task.attempt === attempt) {
      continue;
    }
    tasks ??= [...ticket.tasks];
    tasks[at] = { ...task, status: event.data.status, waiting, attempt };
  }
  if (!tasks && status === ticket.status) return ticket;
  return { ...ticket, status, tasks: tasks ?? ticket.tasks };
}
