import { NavLink, Outlet } from 'react-router';
import { forgetKey } from './api';
import { useStreamState } from './live/events-context';
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
  const stream = useStreamState();
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
        <span className={`stream stream-${stream}`} data-testid="stream-state" title="event stream">
          {STREAM_LABEL[stream]}
        </span>
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
