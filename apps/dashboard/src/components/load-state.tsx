import { ApiError } from '../api';

/** What a page shows while its data is read, or why it could not be. */
export function LoadState({ error, what }: { error: Error | undefined; what: string }) {
  if (!error) return <p className="muted">Loading {what}…</p>;
  const status = error instanceof ApiError ? error.status : 0;
  return (
    <p className="error" role="alert">
      {status === 404 ? `No such ${what}.` : `Could not load the ${what}: ${error.message}`}
    </p>
  );
}
