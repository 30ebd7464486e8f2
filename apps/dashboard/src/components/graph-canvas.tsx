import { useCallback, useEffect, useMemo, useRef, type MouseEvent } from 'react';
import { useNavigate } from 'react-router';
import { NODE_HEIGHT, NODE_WIDTH, type GraphLayout, type GraphTask } from '../lib/graph-layout';
import { statusLabel, toneOf, type Tone } from '../lib/status';

/** The tallest the drawing gets on the page; a larger graph scrolls inside it. */
const MAX_HEIGHT = 560;

interface Paint {
  fill: string;
  stroke: string;
}

interface Palette {
  tones: Record<Tone, Paint>;
  text: string;
  label: string;
  edge: string;
}

/** The status tones' colours, read once from the stylesheet's variables. */
function palette(): Palette {
  const css = getComputedStyle(document.documentElement);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return {
    tones: {
      good: { fill: v('--good-bg', '#e3f4ea'), stroke: v('--good', '#1f8a4c') },
      bad: { fill: v('--bad-bg', '#fbe6e4'), stroke: v('--bad', '#c2352b') },
      active: { fill: v('--active-bg', '#e3eafb'), stroke: v('--active', '#2f5bd3') },
      attention: { fill: v('--attention-bg', '#fdf1dc'), stroke: v('--attention', '#a76300') },
      waiting: { fill: v('--waiting-bg', '#eceef3'), stroke: '#a3abbd' },
      muted: { fill: v('--muted-bg', '#f0f1f3'), stroke: '#cfd4dc' },
    },
    text: v('--text', '#1d2330'),
    label: v('--muted', '#667085'),
    edge: '#a3abbd',
  };
}

/**
 * A large ticket's graph drawn on a canvas the size of what is visible: only the
 * nodes and edges in view are drawn, on scroll, resize or a status change, so
 * 2,000 tasks cost what the screen shows. A click opens the task under it; the
 * table below lists every task for keyboards and screen readers.
 */
export function GraphCanvas({
  placed,
  tasks,
  layoutMs,
}: {
  placed: GraphLayout;
  tasks: readonly GraphTask[];
  layoutMs: number;
}) {
  const navigate = useNavigate();
  const scroller = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const byKey = useMemo(() => new Map(tasks.map((t) => [t.key, t])), [tasks]);
  const at = useMemo(() => new Map(placed.nodes.map((n) => [n.task.key, n])), [placed]);
  const colours = useMemo(palette, []);

  const draw = useCallback(() => {
    const box = scroller.current;
    const element = canvas.current;
    const ctx = element?.getContext('2d');
    if (!box || !element || !ctx) return;
    const width = box.clientWidth;
    const height = box.clientHeight;
    const dpr = window.devicePixelRatio || 1;
    if (element.width !== Math.round(width * dpr) || element.height !== Math.round(height * dpr)) {
      element.width = Math.round(width * dpr);
      element.height = Math.round(height * dpr);
      element.style.width = `${width}px`;
      element.style.height = `${height}px`;
    }
    const left = box.scrollLeft;
    const top = box.scrollTop;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.translate(-left, -top);
    const visible = (x: number, y: number, w: number, h: number) =>
      x + w >= left && x <= left + width && y + h >= top && y <= top + height;

    ctx.lineWidth = 1.2;
    ctx.strokeStyle = colours.edge;
    ctx.beginPath();
    for (const e of placed.edges) {
      const a = at.get(e.from);
      const b = at.get(e.to);
      if (!a || !b) continue;
      const x1 = a.x + NODE_WIDTH;
      const y1 = a.y + NODE_HEIGHT / 2;
      const x2 = b.x;
      const y2 = b.y + NODE_HEIGHT / 2;
      if (!visible(Math.min(x1, x2), Math.min(y1, y2), Math.abs(x2 - x1), Math.abs(y2 - y1))) {
        continue;
      }
      ctx.moveTo(x1, y1);
      ctx.lineTo(x2, y2);
    }
    ctx.stroke();

    ctx.textBaseline = 'alphabetic';
    for (const node of placed.nodes) {
      if (!visible(node.x, node.y, NODE_WIDTH, NODE_HEIGHT)) continue;
      const task = byKey.get(node.task.key) ?? node.task;
      const paint = colours.tones[toneOf(task.status)];
      ctx.beginPath();
      ctx.roundRect(node.x, node.y, NODE_WIDTH, NODE_HEIGHT, 8);
      ctx.fillStyle = paint.fill;
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = paint.stroke;
      ctx.stroke();
      ctx.fillStyle = colours.text;
      ctx.font = '600 13px system-ui, sans-serif';
      ctx.fillText(clip(task.title ?? task.key, 22), node.x + 12, node.y + 18);
      ctx.fillStyle = colours.label;
      ctx.font = '11px system-ui, sans-serif';
      const phase = task.phase ? ` · ${clip(task.phase, 12)}` : '';
      ctx.fillText(`${statusLabel(task.status)}${phase}`, node.x + 12, node.y + 34);
    }
  }, [placed, at, byKey, colours]);

  // The listeners stay for the component's life and draw with the latest `draw`:
  // a status change (every frame of a burst) redraws without re-subscribing.
  const latest = useRef(draw);
  latest.current = draw;
  useEffect(() => draw(), [draw]);
  useEffect(() => {
    const box = scroller.current;
    if (!box) return undefined;
    let frame: number | undefined;
    const schedule = () => {
      frame ??= requestAnimationFrame(() => {
        frame = undefined;
        latest.current();
      });
    };
    box.addEventListener('scroll', schedule, { passive: true });
    const resize = new ResizeObserver(schedule);
    resize.observe(box);
    return () => {
      if (frame !== undefined) cancelAnimationFrame(frame);
      box.removeEventListener('scroll', schedule);
      resize.disconnect();
    };
  }, []);

  /** The task under a pointer event, if any. */
  const hit = (event: MouseEvent<HTMLDivElement>): GraphTask | undefined => {
    const box = scroller.current;
    if (!box) return undefined;
    const rect = box.getBoundingClientRect();
    const x = event.clientX - rect.left + box.scrollLeft;
    const y = event.clientY - rect.top + box.scrollTop;
    const node = placed.nodes.find(
      (n) => x >= n.x && x <= n.x + NODE_WIDTH && y >= n.y && y <= n.y + NODE_HEIGHT,
    );
    return node ? (byKey.get(node.task.key) ?? node.task) : undefined;
  };

  return (
    <div
      className="graph-canvas"
      data-testid="graph-canvas"
      data-nodes={placed.nodes.length}
      data-layout-ms={layoutMs.toFixed(1)}
      style={{ height: Math.min(MAX_HEIGHT, placed.height + 16) }}
    >
      <canvas ref={canvas} aria-hidden="true" />
      <div
        ref={scroller}
        className="graph-canvas-scroll"
        role="img"
        aria-label={`dependency graph of ${placed.nodes.length} tasks (the table below lists them)`}
        onClick={(event) => {
          const task = hit(event);
          if (task) void navigate(`/tasks/${task.id}`);
        }}
        onMouseMove={(event) => {
          const task = hit(event);
          const box = event.currentTarget;
          box.style.cursor = task ? 'pointer' : 'default';
          box.title = task ? `${task.key}: ${statusLabel(task.status)}` : '';
        }}
      >
        <div style={{ width: placed.width, height: placed.height }} />
      </div>
    </div>
  );
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
