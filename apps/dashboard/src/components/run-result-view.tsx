import { count, duration, usd } from '../lib/format';
import type { RunResult } from '../lib/run-result';
import { StatusBadge } from './status-badge';

const ms = (value: number | null) => (value === null ? '—' : duration(value));

/** A run's result.json: outcome, iterations of the verification loop, acceptance, cost, tokens. */
export function RunResultView({ result }: { result: RunResult }) {
  return (
    <div data-testid="run-result">
      <dl className="facts">
        <dt>Outcome</dt>
        <dd>{result.outcome ? <StatusBadge status={result.outcome} /> : '—'}</dd>
        <dt>Agent</dt>
        <dd>
          {result.agent ?? '—'}
          {result.model ? ` (${result.model})` : ''}
        </dd>
        <dt>Iterations</dt>
        <dd data-testid="iterations">{result.iterations ?? '—'}</dd>
        <dt>Acceptance</dt>
        <dd>
          {result.acceptancePassed === null ? '—' : result.acceptancePassed ? 'passed' : 'failed'}
        </dd>
        <dt>Files changed</dt>
        <dd>{result.filesChanged ?? '—'}</dd>
        <dt>Took</dt>
        <dd>{ms(result.durationMs)}</dd>
        <dt>Cost</dt>
        <dd>{usd(result.costUsd)}</dd>
        <dt>Tokens</dt>
        <dd>
          {count(result.inputTokens)} in · {count(result.outputTokens)} out
        </dd>
        {result.pushed ? (
          <>
            <dt>Pushed</dt>
            <dd className="mono">
              {result.pushed.branch} @ {result.pushed.commit.slice(0, 12)}
            </dd>
          </>
        ) : null}
      </dl>
      {result.details.length ? (
        <table className="table" data-testid="iterations-table">
          <thead>
            <tr>
              <th>Iteration</th>
              <th>Agent exit</th>
              <th>Agent took</th>
              <th>Cost</th>
              <th>Tokens in / out</th>
              <th>Acceptance</th>
            </tr>
          </thead>
          <tbody>
            {result.details.map((it) => (
              <tr key={it.iteration}>
                <td>{it.iteration}</td>
                <td>{it.agentExitCode ?? '—'}</td>
                <td>{ms(it.agentDurationMs)}</td>
                <td>{usd(it.costUsd)}</td>
                <td>
                  {count(it.inputTokens)} / {count(it.outputTokens)}
                </td>
                <td>
                  {it.acceptance.length ? (
                    <ul className="acceptance">
                      {it.acceptance.map((a, i) => (
                        <li key={i} className={a.passed ? 'tone-text-good' : 'tone-text-bad'}>
                          {a.passed ? '✓' : '✗'} <code>{a.command}</code>{' '}
                          <span className="muted small">
                            exit {a.exitCode ?? '—'}, {ms(a.durationMs)}
                          </span>
                        </li>
                      ))}
                    </ul>
                  ) : (
                    <span className="muted">none</span>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
    </div>
  );
}
