import type { TaskStatus } from '../api';
import { statusLabel, TASK_STATUSES, toneOf } from '../lib/status';

/** Tasks by status: a stacked bar and its legend ("3 succeeded · 1 running"). */
export function TaskCounts({ counts }: { counts: Partial<Record<TaskStatus, number>> }) {
  const present = TASK_STATUSES.filter((s) => (counts[s] ?? 0) > 0);
  const total = present.reduce((n, s) => n + (counts[s] ?? 0), 0);
  if (!total) return <span className="muted">no tasks</span>;
  return (
    <span className="counts" data-testid="task-counts">
      <span className="count-bar" aria-hidden="true">
        {present.map((s) => (
          <span
            key={s}
            className={`count-seg tone-${toneOf(s)}`}
            style={{ flexGrow: counts[s] ?? 0 }}
          />
        ))}
      </span>
      <span className="count-text">
        {present.map((s) => (
          <span key={s} className={`count-item tone-text-${toneOf(s)}`} data-status={s}>
            {counts[s]} {statusLabel(s)}
          </span>
        ))}
      </span>
    </span>
  );
}

/** Counts of a list of tasks by status. */
export function countByStatus(tasks: readonly { status: TaskStatus }[]) {
  const counts: Partial<Record<TaskStatus, number>> = {};
  for (const t of tasks) counts[t.status] = (counts[t.status] ?? 0) + 1;
  return counts;
}
