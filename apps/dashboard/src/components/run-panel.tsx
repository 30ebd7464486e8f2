import { lazy, Suspense, useCallback, useEffect, useState } from 'react';
import {
  ApiError,
  artifactUrl,
  getArtifactText,
  getDiff,
  listArtifacts,
  type Artifact,
  type Run,
} from '../api';
import { readRunResult } from '../lib/run-result';
import { useLive, type LiveReducer } from '../live/use-live';
import { useRunLog } from '../live/use-run-log';
import { ArtifactsList } from './artifacts-list';
import { LogTail } from './log-tail';
import { RunResultView } from './run-result-view';

const DiffView = lazy(() => import('./diff-view').then((m) => ({ default: m.DiffView })));

export const RUN_VIEWS = ['log', 'diff', 'result', 'artifacts'] as const;
export type RunView = (typeof RUN_VIEWS)[number];

const FINAL_RUN = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'NEEDS_INPUT']);

/** Adds an artifact the moment its `artifact.stored` event says it is stored. */
const artifactsReducer =
  (runId: string): LiveReducer<Artifact[]> =>
  (items, event) => {
    if (event.type !== 'artifact.stored') return items;
    const { data } = event;
    if (data.runId !== runId || items.some((a) => a.name === data.name)) return items;
    const { name, kind, size, sha256, contentType } = data;
    const added = { name, kind, size, sha256, contentType, createdAt: event.occurredAt };
    return [...items, { ...added, url: artifactUrl(runId, name) }];
  };

/** One run of a task: its live log, its diff, its result and its artifacts. */
export function RunPanel({ run, view }: { run: Run; view: RunView }) {
  const load = useCallback((signal: AbortSignal) => listArtifacts(run.id, signal), [run.id]);
  const { data: artifacts } = useLive(`artifacts:${run.id}`, load, artifactsReducer(run.id));
  const live = !FINAL_RUN.has(run.status);
  const names = (artifacts ?? []).map((a) => a.name);
  switch (view) {
    case 'log':
      return <RunLogView runId={run.id} live={live} />;
    case 'artifacts':
      return artifacts ? (
        <ArtifactsList runId={run.id} artifacts={artifacts} />
      ) : (
        <p className="muted">Loading artifacts…</p>
      );
    case 'diff':
      return <RunDiff runId={run.id} stored={names.includes('diff.patch')} />;
    case 'result':
      return <RunResultTab run={run} stored={names.includes('result.json')} />;
  }
}

function RunLogView({ runId, live }: { runId: string; live: boolean }) {
  const { lines, skipped, error } = useRunLog(runId);
  return (
    <>
      {skipped ? <p className="muted small">The first {skipped} lines are not shown.</p> : null}
      {error ? (
        <p className="error" role="alert">
          Could not read the log: {error.message}
        </p>
      ) : null}
      <LogTail lines={lines} live={live} />
    </>
  );
}

/** Text read through `read` once `ready`, again whenever `ready` turns true. */
function useText(key: string, ready: boolean, read: () => Promise<string>) {
  const [state, setState] = useState<{ text?: string; error?: Error }>({});
  useEffect(() => {
    setState({});
    if (!ready) return undefined;
    let current = true;
    read().then(
      (text) => current && setState({ text }),
      (error: Error) => current && setState({ error }),
    );
    return () => {
      current = false;
    };
    // `read` is a new function on each render; `key` names what it reads.
  }, [key, ready]);
  return state;
}

function RunDiff({ runId, stored }: { runId: string; stored: boolean }) {
  const { text, error } = useText(`diff:${runId}`, stored, () => getDiff(runId));
  if (!stored) return <p className="muted">This run has no diff (yet).</p>;
  if (error) {
    const noDiff = error instanceof ApiError && error.status === 404;
    return <p className={noDiff ? 'muted' : 'error'}>{noDiff ? 'No diff.' : error.message}</p>;
  }
  if (text === undefined) return <p className="muted">Loading the diff…</p>;
  if (!text.trim()) return <p className="muted">The run changed no file.</p>;
  return (
    <Suspense fallback={<p className="muted">Rendering the diff…</p>}>
      <DiffView patch={text} />
    </Suspense>
  );
}

function RunResultTab({ run, stored }: { run: Run; stored: boolean }) {
  const { text, error } = useText(`result:${run.id}`, stored, () =>
    getArtifactText(run.id, 'result.json'),
  );
  let raw: unknown = run.result;
  if (text !== undefined) {
    try {
      raw = JSON.parse(text) as unknown;
    } catch {
      // not JSON: the run's summary stands
    }
  }
  const result = readRunResult(raw);
  return (
    <>
      {error ? <p className="error">Could not read result.json: {error.message}</p> : null}
      {stored && text === undefined && !error ? (
        <p className="muted">Loading result.json…</p>
      ) : result ? (
        <RunResultView result={result} />
      ) : (
        <p className="muted">No result yet.</p>
      )}
    </>
  );
}
