import { useCallback, useMemo, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { listTickets, type TicketPage, type TicketStatus } from '../api';
import { LoadState } from '../components/load-state';
import { StatusBadge } from '../components/status-badge';
import { TaskCounts } from '../components/task-counts';
import { age, when } from '../lib/format';
import { TICKET_STATUSES, statusLabel } from '../lib/status';
import { useLive, type LiveReducer } from '../live/use-live';
import { useNow } from '../live/use-now';

const PAGE = 50;
const MAX = 500;

/**
 * Keeps a page of tickets current: a ticket's new status is set at once; a new
 * ticket, or a task's change (the counts), has the page read again.
 */
export const ticketsReducer =
  (status: TicketStatus | undefined): LiveReducer<TicketPage> =>
  (page, event, reload) => {
    if (event.type === 'ticket.changed') {
      const { data } = event;
      const found = page.items.find((t) => t.id === data.ticketId);
      if (!found || (status && data.status !== status)) {
        reload();
        return page;
      }
      if (found.status === data.status) return page;
      return {
        ...page,
        items: page.items.map((t) => (t.id === data.ticketId ? { ...t, status: data.status } : t)),
      };
    }
    if (event.type === 'task.changed' && page.items.some((t) => t.id === event.ticketId)) reload();
    return page;
  };

export function TicketsPage() {
  const [params, setParams] = useSearchParams();
  const status = (TICKET_STATUSES as readonly string[]).includes(params.get('status') ?? '')
    ? (params.get('status') as TicketStatus)
    : undefined;
  const text = params.get('q') ?? '';
  const [limit, setLimit] = useState(PAGE);
  const now = useNow();
  const load = useCallback(
    (signal: AbortSignal) => listTickets({ status, limit }, signal),
    [status, limit],
  );
  const reduce = useMemo(() => ticketsReducer(status), [status]);
  const { data, error } = useLive(`tickets:${status ?? ''}:${limit}`, load, reduce);

  const setParam = (name: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(name, value);
    else next.delete(name);
    setParams(next, { replace: true });
  };

  const needle = text.trim().toLowerCase();
  const shown = (data?.items ?? []).filter(
    (t) =>
      !needle ||
      t.title.toLowerCase().includes(needle) ||
      t.id.startsWith(needle) ||
      t.labels.some((l) => l.toLowerCase().includes(needle)),
  );

  return (
    <section>
      <div className="page-head">
        <h1>Tickets</h1>
        <div className="filters">
          <label>
            Status{' '}
            <select
              value={status ?? ''}
              onChange={(e) => setParam('status', e.target.value)}
              aria-label="filter by status"
            >
              <option value="">all</option>
              {TICKET_STATUSES.map((s) => (
                <option key={s} value={s}>
                  {statusLabel(s)}
                </option>
              ))}
            </select>
          </label>
          <input
            type="search"
            placeholder="Filter by title, label or id"
            value={text}
            onChange={(e) => setParam('q', e.target.value)}
            aria-label="filter by text"
          />
        </div>
      </div>
      {!data ? (
        <LoadState error={error} what="tickets" />
      ) : (
        <>
          {error ? <LoadState error={error} what="tickets" /> : null}
          <table className="table" data-testid="tickets">
            <thead>
              <tr>
                <th>Ticket</th>
                <th>Status</th>
                <th>Tasks</th>
                <th>Age</th>
                <th>Finished</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((t) => (
                <tr key={t.id} data-ticket-id={t.id}>
                  <td>
                    <Link to={`/tickets/${t.id}`}>{t.title}</Link>
                    <div className="muted small mono">{t.id.slice(0, 8)}</div>
                  </td>
                  <td>
                    <StatusBadge status={t.status} />
                  </td>
                  <td>
                    <TaskCounts counts={t.taskCounts} />
                  </td>
                  <td title={when(t.createdAt)}>{age(t.createdAt, now)}</td>
                  <td>{t.finishedAt ? when(t.finishedAt) : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {shown.length === 0 ? (
            <p className="muted">
              {data.items.length ? 'No ticket matches the filter.' : 'No tickets yet.'}
            </p>
          ) : null}
          {data.nextCursor && limit < MAX ? (
            <button type="button" onClick={() => setLimit(Math.min(MAX, limit + PAGE))}>
              Show more
            </button>
          ) : null}
        </>
      )}
    </section>
  );
}
