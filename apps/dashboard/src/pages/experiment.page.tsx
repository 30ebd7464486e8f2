import { useCallback, useState } from 'react';
import { Link, useParams } from 'react-router';
import { getExperiment, type Experiment, type MatrixCell, type Verdict } from '../api';
import { LoadState } from '../components/load-state';
import { StatusBadge } from '../components/status-badge';
import { count, usd, when } from '../lib/format';
import { matrixGrid, percent } from '../lib/matrix';
import { useLive, type LiveReducer } from '../live/use-live';

/** Trials shown before "show all". */
const TRIALS_SHOWN = 200;

/** A trial of the experiment changed: read it again (throttled), the matrix is the server's. */
export const experimentReducer: LiveReducer<Experiment> = (experiment, event, reload) => {
  if (event.ticketId !== experiment.ticketId) return experiment;
  if (event.type === 'task.changed' || event.type === 'ticket.changed') reload();
  return experiment;
};

const VERDICT_TONE: Record<Verdict, string> = {
  pending: 'waiting',
  broken: 'bad',
  trivial: 'attention',
  solved: 'good',
  partial: 'active',
  unsolved: 'bad',
  'baselines-only': 'muted',
};

export function ExperimentPage() {
  const { experimentId = '' } = useParams();
  const load = useCallback(
    (signal: AbortSignal) => getExperiment(experimentId, signal),
    [experimentId],
  );
  const { data: experiment, error } = useLive(
    `experiment:${experimentId}`,
    load,
    experimentReducer,
  );
  if (!experiment) return <LoadState error={error} what="experiment" />;
  return (
    <section>
      <p className="crumbs">
        <Link to="/experiments">Experiments</Link> /
      </p>
      <div className="page-head">
        <h1>{experiment.name}</h1>
        <StatusBadge status={experiment.status} />
      </div>
      <dl className="facts">
        <dt>Ticket</dt>
        <dd>
          <Link to={`/tickets/${experiment.ticketId}`} className="mono">
            {experiment.ticketId}
          </Link>
        </dd>
        <dt>Agents</dt>
        <dd>{experiment.agents.join(', ')}</dd>
        <dt>Models</dt>
        <dd>{experiment.models.length ? experiment.models.join(', ') : 'each task’s own'}</dd>
        <dt>Trials per cell</dt>
        <dd>{experiment.nTrials}</dd>
        <dt>Created</dt>
        <dd>{when(experiment.createdAt)}</dd>
        <dt>Finished</dt>
        <dd>{when(experiment.finishedAt)}</dd>
        <dt>Cost</dt>
        <dd>{usd(experiment.usage.costUsd)}</dd>
        <dt>Tokens</dt>
        <dd>
          {count(experiment.usage.inputTokens)} in · {count(experiment.usage.outputTokens)} out
        </dd>
      </dl>

      <h2>Matrix</h2>
      <Matrix cells={experiment.matrix} />

      <h2>Tasks</h2>
      <Verdicts experiment={experiment} />

      <h2>Trials</h2>
      <Trials experiment={experiment} />
    </section>
  );
}

/** Agents down, models across: each cell its pass rate, trials, cost and tokens. */
function Matrix({ cells }: { cells: readonly MatrixCell[] }) {
  if (!cells.length) return <p className="muted">No trials.</p>;
  const grid = matrixGrid(cells);
  return (
    <div className="matrix-scroll">
      <table className="table matrix" data-testid="matrix">
        <thead>
          <tr>
            <th>agent \ model</th>
            {grid.models.map((m) => (
              <th key={m ?? ''}>{m ?? <span className="muted">task’s own</span>}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {grid.agents.map((agent) => (
            <tr key={agent}>
              <th scope="row">{agent}</th>
              {grid.models.map((model) => {
                const c = grid.cell(agent, model);
                return (
                  <td
                    key={model ?? ''}
                    data-agent={agent}
                    data-model={model ?? ''}
                    className={c ? `cell tone-${rateTone(c)}` : 'cell empty'}
                  >
                    {c ? <CellFigures cell={c} /> : <span className="muted">—</span>}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function CellFigures({ cell: c }: { cell: MatrixCell }) {
  return (
    <>
      <div className="rate" data-testid="pass-rate">
        {percent(c.passRate)}
      </div>
      <div className="small">
        {c.passed}/{c.finished} passed
        {c.finished < c.trials ? ` · ${c.trials - c.finished} running` : ''}
      </div>
      <div className="small muted">
        {usd(c.costUsd)} · {count(c.inputTokens)} in · {count(c.outputTokens)} out
      </div>
    </>
  );
}

function rateTone(c: MatrixCell): string {
  if (c.passRate === null) return 'waiting';
  if (c.passRate === 1) return 'good';
  return c.passRate === 0 ? 'bad' : 'attention';
}

function Verdicts({ experiment }: { experiment: Experiment }) {
  return (
    <table className="table" data-testid="verdicts">
      <thead>
        <tr>
          <th>Task</th>
          <th>Verdict</th>
          <th>Cells (passed / trials)</th>
          <th>Failures</th>
        </tr>
      </thead>
      <tbody>
        {experiment.tasks.map((t) => (
          <tr key={t.name} data-task={t.name}>
            <td className="mono">{t.name}</td>
            <td>
              <span className={`badge tone-${VERDICT_TONE[t.verdict]}`} data-verdict={t.verdict}>
                {t.verdict}
              </span>
            </td>
            <td className="small">
              {t.cells.map((c) => (
                <span key={`${c.agent}/${c.model ?? ''}`} className="cell-chip">
                  {c.agent}
                  {c.model ? `/${c.model}` : ''} {c.passed}/{c.trials}
                </span>
              ))}
            </td>
            <td className="small">
              {Object.entries(t.failures).length
                ? Object.entries(t.failures)
                    .map(([category, n]) => `${category} ${n}`)
                    .join(', ')
                : '—'}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Trials({ experiment }: { experiment: Experiment }) {
  const [all, setAll] = useState(false);
  const shown = all ? experiment.trials : experiment.trials.slice(0, TRIALS_SHOWN);
  return (
    <>
      <table className="table" data-testid="trials">
        <thead>
          <tr>
            <th>Trial</th>
            <th>Status</th>
            <th>Agent / model</th>
            <th>Cost</th>
            <th>Tokens</th>
            <th>Error or analysis</th>
          </tr>
        </thead>
        <tbody>
          {shown.map((t) => (
            <tr key={t.taskId}>
              <td>
                <Link to={`/tasks/${t.taskId}`}>{t.key}</Link>
              </td>
              <td>
                <StatusBadge status={t.status} />
              </td>
              <td>
                {t.agent}
                {t.model ? <span className="muted"> / {t.model}</span> : null}
              </td>
              <td>{usd(t.costUsd)}</td>
              <td>
                {count(t.inputTokens)} / {count(t.outputTokens)}
              </td>
              <td className="small error-message">
                {t.analysis?.category ? (
                  <>
                    <strong>{t.analysis.category}</strong>
                    {t.analysis.summary ? `: ${t.analysis.summary}` : ''}
                  </>
                ) : (
                  (t.error ?? '')
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!all && experiment.trials.length > TRIALS_SHOWN ? (
        <button type="button" className="link-button" onClick={() => setAll(true)}>
          Show all {experiment.trials.length} trials
        </button>
      ) : null}
    </>
  );
}
