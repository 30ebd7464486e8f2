import { lazy, Suspense, useCallback } from 'react';
import { Link, useParams } from 'react-router';
import { getTicket, type Ticket } from '../api';
import { LoadState } from '../components/load-state';
import { StatusBadge } from '../components/status-badge';
import { countByStatus, TaskCounts } from '../components/task-counts';
import { age, count, usd, when } from '../lib/format';
import { useLive, type LiveReducer } from '../live/use-live';
import { useNow } from '../live/use-now';

const DependencyGraph = lazy(() =>
  import('../components/dependency-graph').then((m) => ({ default: m.DependencyGraph })),
);

/** Sets the ticket's and its tasks' statuses from events; a task it does not know reads again. */
export const ticketReducer: LiveReducer<Ticket> = (ticket, event, reload) => {
  if (event.ticketId !== ticket.id) return ticket;
  switch (event.type) {
    case 'ticket.changed': {
      const { status } = event.data;
      if (status !== ticket.status) reload(); // its finish time and usage come with a read
      return status === ticket.status ? ticket : { ...ticket, status };
    }
    case 'task.changed':
    case 'task.waiting': {
      const data = event.data;
      const task = ticket.tasks.find((t) => t.id === data.taskId);
      if (!task) {
        reload();
        return ticket;
      }
      const waiting = event.type === 'task.waiting' ? event.data.waiting : task.waiting;
      const attempt =
        (event.type === 'task.changed' ? event.data.attempt : undefined) ?? task.attempt;
      if (task.status === data.status && task.waiting === waiting && task.attempt === attempt) {
        return ticket;
      }
      return {
        ...ticket,
        tasks: ticket.tasks.map((t) =>
          t.id === data.taskId ? { ...t, status: data.status, waiting, attempt } : t,
        ),
      };
    }
    case 'run.changed':
    case 'runner.changed':
    case 'log.appended':
    case 'artifact.stored':
      return ticket;
  }
};

export function TicketPage() {
  const { ticketId = '' } = useParams();
  const now = useNow();
  const load = useCallback((signal: AbortSignal) => getTicket(ticketId, signal), [ticketId]);
  const { data: ticket, error } = useLive(`ticket:${ticketId}`, load, ticketReducer);
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
      <table className="table" data-testid="tasks">
        <thead>
          <tr>
            <th>Task</th>
            <th>Status</th>
            <th>Phase</th>
            <th>Agent</th>
            <th>Attempt</th>
            <th>Depends on</th>
            <th>Finished</th>
          </tr>
        </thead>
        <tbody>
          {ticket.tasks.map((t) => (
            <tr key={t.id} data-task-key={t.key}>
              <td>
                <Link to={`/tasks/${t.id}`}>{t.key}</Link>
                {t.title ? <div className="muted small">{t.title}</div> : null}
                {t.waiting ? <div className="attention small">{t.waiting.message}</div> : null}
                {t.reason ? <div className="muted small">{t.reason}</div> : null}
              </td>
              <td>
                <StatusBadge status={t.status} />
              </td>
              <td>{t.phase ?? '—'}</td>
              <td>{t.agent}</td>
              <td>{t.attempt}</td>
              <td>{t.dependsOn.join(', ') || '—'}</td>
              <td>{when(t.finishedAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
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
