import { useCallback } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { getTask, type Task } from '../api';
import { LoadState } from '../components/load-state';
import { RUN_VIEWS, RunPanel, type RunView } from '../components/run-panel';
import { RunsTable } from '../components/runs-table';
import { StatusBadge } from '../components/status-badge';
import { TaskActions } from '../components/task-actions';
import { count, duration, usd, when } from '../lib/format';
import { useLive, type LiveReducer } from '../live/use-live';

/**
 * Sets the task's status and its runs' from events at once, and reads the task
 * again for what events do not carry (a new run, a run's times and result).
 */
export const taskReducer: LiveReducer<Task> = (task, event, reload) => {
  if (event.type === 'ticket.changed' || event.type === 'runner.changed') return task;
  if (event.data.taskId !== task.id) return task;
  switch (event.type) {
    case 'task.changed': {
      const { status, attempt } = event.data;
      if (status === task.status && (attempt ?? task.attempt) === task.attempt) return task;
      reload();
      return { ...task, status, attempt: attempt ?? task.attempt };
    }
    case 'task.waiting': {
      return { ...task, waiting: event.data.waiting };
    }
    case 'run.changed': {
      const run = event.data;
      reload();
      if (!task.runs.some((r) => r.id === run.runId)) return task;
      return {
        ...task,
        runs: task.runs.map((r) =>
          r.id === run.runId
            ? {
                ...r,
                status: run.status,
                runnerId: run.runnerId,
                exitCode: run.exitCode,
                errorClass: run.errorClass,
              }
            : r,
        ),
      };
    }
    case 'log.appended':
    case 'artifact.stored':
      return task; // the run panel's
  }
};

export function TaskPage() {
  const { taskId = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const load = useCallback((signal: AbortSignal) => getTask(taskId, signal), [taskId]);
  const { data: task, error, reload } = useLive(`task:${taskId}`, load, taskReducer);
  if (!task) return <LoadState error={error} what="task" />;

  // Without a run picked, the page follows the latest attempt (a retry takes over).
  const picked = task.runs.find((r) => r.id === params.get('run'));
  const run = picked ?? task.runs.at(-1);
  const view: RunView = (RUN_VIEWS as readonly string[]).includes(params.get('view') ?? '')
    ? (params.get('view') as RunView)
    : 'log';
  const set = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [name, value] of Object.entries(changes)) {
      if (value === null) next.delete(name);
      else next.set(name, value);
    }
    setParams(next, { replace: true });
  };

  return (
    <section>
      <p className="crumbs">
        <Link to="/">Tickets</Link> / <Link to={`/tickets/${task.ticketId}`}>ticket</Link> /
      </p>
      <div className="page-head">
        <h1>
          {task.key}
          {task.title ? <span className="muted"> — {task.title}</span> : null}
        </h1>
        <StatusBadge status={task.status} />
      </div>
      {task.waiting ? <p className="attention">{task.waiting.message}</p> : null}
      {task.reason ? <p className="muted">{task.reason}</p> : null}
      <TaskActions task={task} onChanged={reload} />
      <TaskFacts task={task} />

      <h2>Runs</h2>
      <RunsTable runs={task.runs} selected={run?.id} onSelect={(id) => set({ run: id })} />

      {run ? (
        <>
          <div className="tabs" role="tablist">
            <span className="tabs-title">
              Attempt #{run.attempt}
              {picked ? (
                <button
                  type="button"
                  className="link-button small"
                  onClick={() => set({ run: null })}
                >
                  follow the latest
                </button>
              ) : (
                <span className="muted small"> (following the latest)</span>
              )}
            </span>
            {RUN_VIEWS.map((v) => (
              <button
                key={v}
                type="button"
                role="tab"
                aria-selected={v === view}
                className={v === view ? 'tab active' : 'tab'}
                onClick={() => set({ view: v === 'log' ? null : v })}
              >
                {v}
              </button>
            ))}
          </div>
          <div className="tab-body" data-run-id={run.id} data-view={view}>
            <RunPanel key={run.id} run={run} view={view} />
          </div>
        </>
      ) : null}
    </section>
  );
}

function TaskFacts({ task }: { task: Task }) {
  return (
    <dl className="facts">
      <dt>Id</dt>
      <dd className="mono">{task.id}</dd>
      <dt>Agent</dt>
      <dd>
        {task.agent} ({task.provider})
      </dd>
      <dt>Attempts</dt>
      <dd>
        {task.attempt} of {task.maxAttempts}
      </dd>
      <dt>Timeout</dt>
      <dd>{duration(task.timeoutMs)}</dd>
      <dt>Phase</dt>
      <dd>{task.phase ?? '—'}</dd>
      <dt>Depends on</dt>
      <dd>
        {task.dependsOn.length
          ? task.dependsOn.map((d, i) => (
              <span key={d.id}>
                {i ? ', ' : ''}
                <Link to={`/tasks/${d.id}`}>{d.key}</Link> <StatusBadge status={d.status} />
              </span>
            ))
          : '—'}
      </dd>
      <dt>Created</dt>
      <dd>{when(task.createdAt)}</dd>
      <dt>Finished</dt>
      <dd>{when(task.finishedAt)}</dd>
      {task.retryAt ? (
        <>
          <dt>Retry at</dt>
          <dd>{when(task.retryAt)}</dd>
        </>
      ) : null}
      <dt>Cost</dt>
      <dd>{usd(task.usage.costUsd)}</dd>
      <dt>Tokens</dt>
      <dd>
        {count(task.usage.inputTokens)} in · {count(task.usage.outputTokens)} out
      </dd>
      {task.approval ? (
        <>
          <dt>Approval</dt>
          <dd>
            {task.approval.decision
              ? `${task.approval.decision.toLowerCase()} by ${task.approval.decidedBy ?? '?'}${task.approval.comment ? `: ${task.approval.comment}` : ''}`
              : `requested ${when(task.approval.requestedAt)}`}
          </dd>
        </>
      ) : null}
      {task.inputs.length ? (
        <>
          <dt>Input</dt>
          <dd>
            {task.inputs.map((i) => (
              <div key={i.id}>
                <code>{i.name}</code>: {i.prompt}{' '}
                {i.answeredAt ? (
                  <span className="muted">answered by {i.answeredBy ?? '?'}</span>
                ) : (
                  <span className="attention">waiting for an answer</span>
                )}
              </div>
            ))}
          </dd>
        </>
      ) : null}
    </dl>
  );
}
