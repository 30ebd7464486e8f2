import { useState, type FormEvent } from 'react';
import { ApiError, keepKey, me, type Me } from '../api';

/**
 * The API key form. The input has no name and the form no action, so the key
 * can never end up in a URL, even without script; it is checked with `GET /me`
 * before it is kept.
 */
export function SignInPage({
  notice,
  onSignedIn,
}: {
  notice: string | null;
  onSignedIn: (who: Me) => void;
}) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const value = key.trim();
    if (!value) {
      setError('Enter an API key (drv_...).');
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const who = await me(value);
      keepKey(value);
      setKey('');
      onSignedIn(who);
    } catch (failure) {
      setError(
        failure instanceof ApiError && failure.status === 401
          ? 'That key was refused: it is wrong, expired or revoked. Check it and try again.'
          : failure instanceof ApiError && failure.status === 429
            ? `Too many attempts: ${failure.message}`
            : `Could not sign in: ${(failure as Error).message}`,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="sign-in">
      <form className="card sign-in-form" method="post" onSubmit={(e) => void submit(e)} noValidate>
        <h1>Drover</h1>
        <p className="muted">Sign in with an API key of your project.</p>
        {notice ? (
          <p className="notice" role="status">
            {notice}
          </p>
        ) : null}
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="drv_..."
          value={key}
          onChange={(e) => setKey(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'sign-in-error' : undefined}
          autoFocus
        />
        {error ? (
          <p id="sign-in-error" className="error" role="alert">
            {error}
          </p>
        ) : null}
        <button type="submit" disabled={busy}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        <p className="muted small">
          The key is kept in this tab only (session storage) and sent in the Authorization header.{' '}
          <code>npm run bootstrap</code> issues an admin key.
        </p>
      </form>
    </main>
  );
}
