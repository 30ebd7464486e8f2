import { useCallback } from 'react';
import { Link } from 'react-router';
import { listExperiments, type ExperimentSummary } from '../api';
import { LoadState } from '../components/load-state';
import { StatusBadge } from '../components/status-badge';
import { age, when } from '../lib/format';
import { useLive, type LiveReducer } from '../live/use-live';
import { useNow } from '../live/use-now';

const LIMIT = 100;

/** An experiment's ticket changed status: set it; a ticket it does not know may be a new one. */
export const experimentsReducer: LiveReducer<ExperimentSummary[]> = (items, event, reload) => {
  if (event.type !== 'ticket.changed') return items;
  const { ticketId, status } = event.data;
  const found = items.find((e) => e.ticketId === ticketId);
  if (!found) {
    reload();
    return items;
  }
  if (found.status === status) return items;
  reload(); // its finish time comes with a read
  return items.map((e) => (e.ticketId === ticketId ? { ...e, status } : e));
};

export function ExperimentsPage() {
  const now = useNow();
  const load = useCallback((signal: AbortSignal) => listExperiments(LIMIT, signal), []);
  const { data, error } = useLive('experiments', load, experimentsReducer);
  return (
    <section>
      <div className="page-head">
        <h1>Experiments</h1>
      </div>
      {!data ? (
        <LoadState error={error} what="experiments" />
      ) : data.length === 0 ? (
        <p className="muted">
          No experiments yet: <code>drover submit &lt;dir&gt; --agents nop,oracle</code> or{' '}
          <code>POST /experiments</code> starts one.
        </p>
      ) : (
        <table className="table" data-testid="experiments">
          <thead>
            <tr>
              <th>Experiment</th>
              <th>Status</th>
              <th>Agents</th>
              <th>Models</th>
              <th>Trials</th>
              <th>Age</th>
              <th>Finished</th>
            </tr>
          </thead>
          <tbody>
            {data.map((e) => (
              <tr key={e.id} data-experiment-id={e.id}>
                <td>
                  <Link to={`/experiments/${e.id}`}>{e.name}</Link>
                </td>
                <td>
                  <StatusBadge status={e.status} />
                </td>
                <td>{e.agents.join(', ')}</td>
                <td>
                  {e.models.length ? (
                    e.models.join(', ')
                  ) : (
                    <span className="muted">each task’s own</span>
                  )}
                </td>
                <td>
                  {e.trials}
                  <span className="muted small"> ({e.nTrials} per cell)</span>
                </td>
                <td title={when(e.createdAt)}>{age(e.createdAt, now)}</td>
                <td>{when(e.finishedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
