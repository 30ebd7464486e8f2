import { useCallback, useEffect } from 'react';
import { listProviders, listRunners, type ProviderLoad, type Runner } from '../api';
import { LoadState } from '../components/load-state';
import { StatusBadge } from '../components/status-badge';
import { age, duration, when } from '../lib/format';
import { useLive, type LiveReducer } from '../live/use-live';
import { useNow } from '../live/use-now';
import { usePolled } from '../live/use-polled';

/** Heartbeats move no event: the list is read again this often, and on each runner event. */
const RUNNERS_EVERY_MS = 5000;
const PROVIDERS_EVERY_MS = 3000;

/** A runner joined, left or went stale: read the list again. */
export const runnersReducer: LiveReducer<Runner[]> = (runners, event, reload) => {
  if (event.type === 'runner.changed') reload();
  return runners;
};

export function RunnersPage() {
  const now = useNow(1000);
  const load = useCallback((signal: AbortSignal) => listRunners(signal), []);
  const { data: runners, error, reload } = useLive('runners', load, runnersReducer);
  useEffect(() => {
    const timer = setInterval(reload, RUNNERS_EVERY_MS);
    return () => clearInterval(timer);
  }, [reload]);
  const providers = usePolled('providers', (signal) => listProviders(signal), PROVIDERS_EVERY_MS);
  return (
    <section>
      <div className="page-head">
        <h1>Runners</h1>
      </div>
      <h2>Providers</h2>
      <Providers providers={providers.data} error={providers.error} />
      <h2>Runners</h2>
      {!runners ? (
        <LoadState error={error} what="runners" />
      ) : runners.length === 0 ? (
        <p className="muted">
          No runner has registered: start one (<code>npm run dev</code> starts one, or the
          agent-runner service).
        </p>
      ) : (
        <RunnersTable runners={runners} now={now} />
      )}
    </section>
  );
}

function RunnersTable({ runners, now }: { runners: readonly Runner[]; now: number }) {
  const online = runners.filter((r) => r.status === 'ONLINE');
  const slots = online.reduce((n, r) => n + r.slots, 0);
  const free = online.reduce((n, r) => n + r.freeSlots, 0);
  return (
    <>
      <p className="muted" data-testid="runner-totals">
        {online.length} of {runners.length} online · {slots - free} of {slots} slots busy
      </p>
      <table className="table" data-testid="runners">
        <thead>
          <tr>
            <th>Runner</th>
            <th>Pool</th>
            <th>Status</th>
            <th>Slots (free / total)</th>
            <th>Last heartbeat</th>
            <th>Registered</th>
          </tr>
        </thead>
        <tbody>
          {runners.map((r) => {
            const silentMs = now - Date.parse(r.lastHeartbeatAt);
            const late = r.status === 'ONLINE' && silentMs > 2 * r.heartbeatIntervalMs;
            return (
              <tr key={r.id} data-runner-id={r.id}>
                <td>
                  {r.name}
                  {r.name !== r.id ? <div className="muted small mono">{r.id}</div> : null}
                </td>
                <td>{r.project ? `project ${r.project}` : 'shared'}</td>
                <td>
                  <StatusBadge status={r.status} />
                </td>
                <td data-testid="slots">
                  <SlotBar free={r.freeSlots} total={r.slots} /> {r.freeSlots} / {r.slots}
                </td>
                <td
                  className={late ? 'attention' : undefined}
                  title={`${when(r.lastHeartbeatAt)}; every ${duration(r.heartbeatIntervalMs)}`}
                  data-testid="heartbeat-age"
                >
                  {age(r.lastHeartbeatAt, now)} ago{late ? ' (late)' : ''}
                </td>
                <td>{when(r.registeredAt)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}

function SlotBar({ free, total }: { free: number; total: number }) {
  const busy = Math.max(0, total - free);
  return (
    <span className="count-bar slot-bar" aria-hidden="true">
      <span className="count-seg tone-active" style={{ flexGrow: busy }} />
      <span className="count-seg tone-waiting" style={{ flexGrow: Math.max(0, free) }} />
    </span>
  );
}

function Providers({
  providers,
  error,
}: {
  providers: ProviderLoad[] | undefined;
  error: Error | undefined;
}) {
  if (!providers) return <LoadState error={error} what="providers' limits" />;
  return (
    <>
      {error ? <LoadState error={error} what="providers' limits (showing the last read)" /> : null}
      <table className="table" data-testid="providers">
        <thead>
          <tr>
            <th>Provider</th>
            <th>Running / limit</th>
            <th>Of which this project’s</th>
          </tr>
        </thead>
        <tbody>
          {providers.map((p) => (
            <tr key={p.provider} data-provider={p.provider}>
              <td>{p.provider}</td>
              <td data-testid="provider-load">
                <SlotBar free={Math.max(0, p.limit - p.running)} total={p.limit} /> {p.running} /{' '}
                {p.limit}
                {p.running >= p.limit ? <span className="attention"> (at its limit)</span> : null}
              </td>
              <td>{p.runningInProject}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">
        Running counts tasks dispatched or running in every project: the limits (the scheduler’s{' '}
        <code>DROVER_CONCURRENCY</code>) are shared by all.
      </p>
    </>
  );
}
