import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import type { NumberedLine } from '../api';
import { missingLines } from '../lib/log-lines';

/** Up to this many lines are all in the page; a longer log shows only what is in view. */
const PLAIN_UP_TO = 1000;
const LINE_HEIGHT = 18;

/**
 * A run's log lines, following the end while `follow` is on and the reader has
 * not scrolled up.
 */
export function LogTail({ lines, live }: { lines: readonly NumberedLine[]; live: boolean }) {
  const scroller = useRef<HTMLDivElement>(null);
  const [follow, setFollow] = useState(true);
  const atEnd = useRef(true);

  const onScroll = () => {
    const el = scroller.current;
    if (!el) return;
    atEnd.current = el.scrollHeight - el.scrollTop - el.clientHeight < LINE_HEIGHT * 2;
  };

  /** Keeps the view at the end while following and the reader has not scrolled up. */
  const stick = () => {
    const el = scroller.current;
    if (el && follow && atEnd.current) el.scrollTop = el.scrollHeight;
  };
  useLayoutEffect(stick, [lines, follow]);

  const missing = missingLines(lines);
  return (
    <div className="log">
      <div className="log-bar">
        <span data-testid="log-count">
          {lines.length} lines{missing ? ` (${missing} missing)` : ''}
        </span>
        {live ? <span className="live-dot">live</span> : null}
        <label className="log-follow">
          <input
            type="checkbox"
            checked={follow}
            onChange={(e) => {
              setFollow(e.target.checked);
              atEnd.current = true;
            }}
          />{' '}
          follow
        </label>
      </div>
      <div
        className="log-lines"
        ref={scroller}
        onScroll={onScroll}
        data-line-count={lines.length}
        data-last-line={lines.length ? lines[lines.length - 1].n : -1}
      >
        {lines.length === 0 ? (
          <div className="log-empty">{live ? 'waiting for output…' : 'no output'}</div>
        ) : lines.length <= PLAIN_UP_TO ? (
          lines.map((line) => <Line key={line.n} line={line} />)
        ) : (
          <VirtualLines lines={lines} scroller={scroller} onMeasured={stick} />
        )}
      </div>
    </div>
  );
}

function Line({ line, style }: { line: NumberedLine; style?: React.CSSProperties }) {
  return (
    <div className={`log-line log-${line.stream}`} data-n={line.n} style={style}>
      <span className="log-n">{line.n + 1}</span>
      <span className="log-text">{line.text}</span>
    </div>
  );
}

function VirtualLines({
  lines,
  scroller,
  onMeasured,
}: {
  lines: readonly NumberedLine[];
  scroller: React.RefObject<HTMLDivElement | null>;
  /** After a measure: the height changed, so a view following the end must move again. */
  onMeasured: () => void;
}) {
  const virtualizer = useVirtualizer({
    count: lines.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => LINE_HEIGHT,
    overscan: 30,
    // Mounted (the log passed PLAIN_UP_TO lines), the virtualizer scrolls its element
    // to this offset: where it is, not the top, or a log following its end jumps to line 1.
    initialOffset: () => scroller.current?.scrollTop ?? 0,
  });
  // The scroller's height changes with the count: let the virtualizer measure again,
  // then follow the end again (the first scroll may have met the old, shorter height).
  const measured = useRef(onMeasured);
  measured.current = onMeasured;
  useEffect(() => {
    virtualizer.measure();
    measured.current();
  }, [virtualizer, lines.length]);
  return (
    <div className="log-virtual" style={{ height: virtualizer.getTotalSize() }}>
      {virtualizer.getVirtualItems().map((item) => (
        <Line
          key={lines[item.index].n}
          line={lines[item.index]}
          style={{ transform: `translateY(${item.start}px)` }}
        />
      ))}
    </div>
  );
}
