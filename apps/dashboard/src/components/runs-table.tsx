import type { Run } from '../api';
import { between, usd, when } from '../lib/format';
import { StatusBadge } from './status-badge';

/** Every attempt of a task; a row click shows that run below. */
export function RunsTable({
  runs,
  selected,
  onSelect,
}: {
  runs: readonly Run[];
  selected: string | undefined;
  onSelect: (runId: string) => void;
}) {
  if (!runs.length) return <p className="muted">No run yet.</p>;
  return (
    <table className="table runs" data-testid="runs">
      <thead>
        <tr>
          <th>Attempt</th>
          <th>Status</th>
          <th>Runner</th>
          <th>Started</th>
          <th>Finished</th>
          <th>Took</th>
          <th>Exit code</th>
          <th>Error class</th>
          <th>Cost</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((run) => (
          <tr
            key={run.id}
            className={run.id === selected ? 'selected clickable' : 'clickable'}
            data-run-id={run.id}
            data-attempt={run.attempt}
            onClick={() => onSelect(run.id)}
          >
            <td>
              <button type="button" className="link-button" onClick={() => onSelect(run.id)}>
                #{run.attempt}
              </button>
            </td>
            <td>
              <StatusBadge status={run.status} />
            </td>
            <td className="mono small">{run.runnerId ?? '—'}</td>
            <td>{when(run.startedAt ?? run.dispatchedAt)}</td>
            <td>{when(run.finishedAt)}</td>
            <td>{between(run.startedAt, run.finishedAt) ?? '—'}</td>
            <td>{run.exitCode ?? '—'}</td>
            <td>
              {run.errorClass ?? '—'}
              {run.errorMessage ? (
                <div className="muted small error-message">{run.errorMessage}</div>
              ) : null}
            </td>
            <td>{usd(run.costUsd)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
