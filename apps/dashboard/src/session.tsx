import { createContext, useContext, useEffect, useState, type ReactNode } from 'react';
import { ApiError, currentKey, forgetKey, KEY_REFUSED, me, onSessionChange, type Me } from './api';
import { SignInPage } from './pages/sign-in.page';

const MeContext = createContext<Me | null>(null);

/** Who is signed in: the key's name, role and project (pages decide what to offer by role). */
export function useMe(): Me {
  const value = useContext(MeContext);
  if (!value) throw new Error('useMe outside a signed-in session');
  return value;
}

type State =
  | { kind: 'checking' }
  | { kind: 'signed-out'; message: string | null }
  | { kind: 'signed-in'; me: Me };

/**
 * Shows the sign-in form until a key is accepted by `GET /me`, then `children`.
 * A key kept in this tab (a reload) is checked again first; a key the gateway
 * refuses later (revoked, expired) brings the form back with the reason.
 */
export function Session({ children }: { children: ReactNode }) {
  const [state, setState] = useState<State>(() =>
    currentKey() ? { kind: 'checking' } : { kind: 'signed-out', message: null },
  );

  useEffect(() => {
    const key = currentKey();
    if (key) {
      me().then(
        (who) => setState({ kind: 'signed-in', me: who }),
        (error: Error) => {
          if (error instanceof ApiError && error.status === 401) forgetKey(KEY_REFUSED);
          else setState({ kind: 'signed-out', message: error.message });
        },
      );
    }
    return onSessionChange((reason) => {
      if (!currentKey()) setState({ kind: 'signed-out', message: reason });
    });
  }, []);

  if (state.kind === 'checking') return <div className="center-note">Checking your key…</div>;
  if (state.kind === 'signed-out') {
    return (
      <SignInPage
        notice={state.message}
        onSignedIn={(who) => setState({ kind: 'signed-in', me: who })}
      />
    );
  }
  return <MeContext.Provider value={state.me}>{children}</MeContext.Provider>;
}
