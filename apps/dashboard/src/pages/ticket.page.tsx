import { lazy, Suspense, useCallback } from 'react';
import { Link, useParams } from 'react-router';
import { getTicket, type Ticket } from '../api';
import { LoadState } from '../components/load-state';
import { StatusBadge } from '../components/status-badge';
import { countByStatus, TaskCounts } from '../components/task-counts';
import { TasksTable } from '../components/tasks-table';
import { TicketActions } from '../components/ticket-actions';
import { age, count, usd, when } from '../lib/format';
import { applyTicketEvents } from '../lib/ticket-events';
import { useLive, type BatchReducer } from '../live/use-live';
import { useNow } from '../live/use-now';

const DependencyGraph = lazy(() =>
  import('../components/dependency-graph').then((m) => ({ default: m.DependencyGraph })),
);

/** A frame's events at once: a burst over a 2,000-task ticket copies its task list once. */
const TICKET_EVENTS: BatchReducer<Ticket> = { batch: applyTicketEvents };

export function TicketPage() {
  const { ticketId = '' } = useParams();
  const now = useNow();
  const load = useCallback((signal: AbortSignal) => getTicket(ticketId, signal), [ticketId]);
  const { data: ticket, error, reload } = useLive(`ticket:${ticketId}`, load, TICKET_EVENTS);
  if (!ticket) return <LoadState error={error} what="ticket" />;

  const phases = phasesOf(ticket);
  return (
    <section>
      <p className="crumbs">
        <Link to="/">Tickets</Link> /
      </p>
      <div className="page-head">
        <h1>{ticket.title}</h1>
        <StatusBadge status={ticket.status} />
      </div>
      <TicketActions ticket={ticket} onChanged={reload} />
      <dl className="facts">
        <dt>Id</dt>
        <dd className="mono">{ticket.id}</dd>
        <dt>Created</dt>
        <dd title={when(ticket.createdAt)}>{age(ticket.createdAt, now)} ago</dd>
        <dt>Finished</dt>
        <dd>{when(ticket.finishedAt)}</dd>
        <dt>Priority</dt>
        <dd>{ticket.priority}</dd>
        <dt>Cost</dt>
        <dd>{usd(ticket.usage.costUsd)}</dd>
        <dt>Tokens</dt>
        <dd>
          {count(ticket.usage.inputTokens)} in · {count(ticket.usage.outputTokens)} out
        </dd>
        {ticket.labels.length ? (
          <>
            <dt>Labels</dt>
            <dd>{ticket.labels.join(', ')}</dd>
          </>
        ) : null}
      </dl>
      {ticket.description ? <p className="description">{ticket.description}</p> : null}
      <p>
        <TaskCounts counts={countByStatus(ticket.tasks)} />
      </p>

      <h2>Graph</h2>
      <Suspense fallback={<p className="muted">Drawing the graph…</p>}>
        <DependencyGraph tasks={ticket.tasks} />
      </Suspense>

      {phases.length > 1 || phases[0]?.name ? (
        <>
          <h2>Phases</h2>
          <ol className="phases">
            {phases.map((p) => (
              <li key={p.name ?? ''}>
                <strong>{p.name ?? '(no phase)'}</strong>{' '}
                <TaskCounts counts={countByStatus(p.tasks)} />
              </li>
            ))}
          </ol>
        </>
      ) : null}

      <h2>Tasks</h2>
      <TasksTable tasks={ticket.tasks} />
    </section>
  );
}

/** The ticket's phases in the order their first task appears. */
function phasesOf(ticket: Ticket) {
  const phases = new Map<string | null, Ticket['tasks']>();
  for (const task of ticket.tasks) {
    const list = phases.get(task.phase) ?? [];
    list.push(task);
    phases.set(task.phase, list);
  }
  return [...phases].map(([name, tasks]) => ({ name, tasks }));
}
