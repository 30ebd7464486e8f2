import { useWindowVirtualizer } from '@tanstack/react-virtual';
import { memo, useLayoutEffect, useRef, useState } from 'react';
import { Link } from 'react-router';
import type { TicketTask } from '../api';
import { when } from '../lib/format';
import { StatusBadge } from './status-badge';

/** A ticket this small renders every row (nothing to gain, and find-in-page finds them all). */
const ALL_ROWS_UP_TO = 100;
const ROW_ESTIMATE_PX = 46;
const COLUMNS = 7;

/**
 * A ticket's tasks, one row each. Long lists are virtualised against the
 * window's scroll: only the rows in view (and a few around them) are in the
 * page, so 2,000 tasks render and update as fast as 20.
 */
export function TasksTable({ tasks }: { tasks: readonly TicketTask[] }) {
  const body = useRef<HTMLTableSectionElement>(null);
  const [offset, setOffset] = useState(0);
  // Where the rows start on the page: it moves when what is above them resizes.
  useLayoutEffect(() => {
    const element = body.current;
    if (!element) return undefined;
    const measure = () => setOffset(element.getBoundingClientRect().top + window.scrollY);
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(element.closest('section') ?? document.body);
    return () => observer.disconnect();
  }, []);
  const virtualizer = useWindowVirtualizer({
    count: tasks.length,
    estimateSize: () => ROW_ESTIMATE_PX,
    overscan: tasks.length <= ALL_ROWS_UP_TO ? ALL_ROWS_UP_TO : 12,
    scrollMargin: offset,
    getItemKey: (index) => tasks[index].id,
  });
  const items = virtualizer.getVirtualItems();
  const before = items.length ? items[0].start - offset : 0;
  const after = items.length ? virtualizer.getTotalSize() - items[items.length - 1].end : 0;
  return (
    <table className="table" data-testid="tasks" data-rows={tasks.length}>
      <thead>
        <tr>
          <th>Task</th>
          <th>Status</th>
          <th>Phase</th>
          <th>Agent</th>
          <th>Attempt</th>
          <th>Depends on</th>
          <th>Finished</th>
        </tr>
      </thead>
      <tbody ref={body}>
        {before > 0 ? <Spacer height={before} /> : null}
        {items.map((item) => (
          <TaskRow
            key={item.key}
            task={tasks[item.index]}
            index={item.index}
            measure={virtualizer.measureElement}
          />
        ))}
        {after > 0 ? <Spacer height={after} /> : null}
      </tbody>
    </table>
  );
}

function Spacer({ height }: { height: number }) {
  return (
    <tr className="spacer-row" aria-hidden="true" style={{ height }}>
      <td colSpan={COLUMNS} />
    </tr>
  );
}

/** One task's row; rendered again only when that task changed. */
const TaskRow = memo(function TaskRow({
  task: t,
  index,
  measure,
}: {
  task: TicketTask;
  index: number;
  measure: (element: Element | null) => void;
}) {
  return (
    <tr ref={measure} data-index={index} data-task-key={t.key}>
      <td>
        <Link to={`/tasks/${t.id}`}>{t.key}</Link>
        {t.title ? <div className="muted small">{t.title}</div> : null}
        {t.waiting ? <div className="attention small">{t.waiting.message}</div> : null}
        {t.reason ? <div className="muted small">{t.reason}</div> : null}
      </td>
      <td>
        <StatusBadge status={t.status} />
      </td>
      <td>{t.phase ?? '—'}</td>
      <td>{t.agent}</td>
      <td>{t.attempt}</td>
      <td>{t.dependsOn.join(', ') || '—'}</td>
      <td>{when(t.finishedAt)}</td>
    </tr>
  );
});
