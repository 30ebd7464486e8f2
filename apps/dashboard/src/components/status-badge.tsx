import { statusLabel, toneOf } from '../lib/status';

/** A status as a coloured pill; `data-status` carries the raw value. */
export function StatusBadge({ status }: { status: string }) {
  return (
    <span className={`badge tone-${toneOf(status)}`} data-status={status}>
      {statusLabel(status)}
    </span>
  );
}
