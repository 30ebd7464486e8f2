import type { Notice } from './use-action';

/** What came of the last action: a short confirmation, or the API's refusal. */
export function ActionNotice({ notice }: { notice: Notice | null }) {
  if (!notice) return null;
  return notice.kind === 'error' ? (
    <p className="action-notice error" role="alert" data-testid="action-error">
      {notice.text}
    </p>
  ) : (
    <p className="action-notice ok" role="status" data-testid="action-done">
      {notice.text}
    </p>
  );
}
