import { useEffect, useRef } from 'react';
import { NavLink, Outlet } from 'react-router';
import { forgetKey } from './api';
import { useEventHub, useStreamState } from './live/events-context';
import { ROUTES } from './routes';
import { useMe } from './session';

const STREAM_LABEL = {
  connecting: 'connecting',
  open: 'live',
  reconnecting: 'reconnecting…',
  stopped: 'stopped',
} as const;

/** The header (navigation, live indicator, who is signed in) around every page. */
export function Layout() {
  const who = useMe();
  return (
    <div className="app">
      <header className="top">
        <span className="brand">Drover</span>
        <nav>
          {ROUTES.filter((r) => r.nav).map((r) => (
            <NavLink key={r.path} to={r.path} end>
              {r.nav}
            </NavLink>
          ))}
        </nav>
        <span className="spacer" />
        <StreamIndicator />
        <span className="who" title={`key ${who.keyId}`}>
          {who.name} · {who.role} · {who.project.slug}
        </span>
        <button type="button" className="link-button" onClick={() => forgetKey()}>
          Sign out
        </button>
      </header>
      <main className="page">
        <Outlet />
      </main>
    </div>
  );
}

/**
 * The stream's state; its attributes say how many events reached the page and the
 * last sequence (set without a render: they change with every batch).
 */
function StreamIndicator() {
  const hub = useEventHub();
  const stream = useStreamState();
  const ref = useRef<HTMLSpanElement>(null);
  useEffect(
    () =>
      hub.subscribe((events) => {
        const element = ref.current;
        if (!element) return;
        element.dataset.received = String(hub.deliveredCount);
        element.dataset.lastSeq = String(events[events.length - 1].seq);
      }),
    [hub],
  );
  return (
    <span
      ref={ref}
      className={`stream stream-${stream}`}
      data-testid="stream-state"
      data-received="0"
      title="event stream"
    >
      {STREAM_LABEL[stream]}
    </span>
  );
}
