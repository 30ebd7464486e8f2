import { useMemo } from 'react';
import { useNavigate } from 'react-router';
import { chooseLayout } from '../lib/choose-layout';
import {
  DAGRE_MAX_NODES,
  NODE_HEIGHT,
  NODE_WIDTH,
  type GraphLayout,
  type GraphTask,
} from '../lib/graph-layout';
import { statusLabel, toneOf } from '../lib/status';
import { GraphCanvas } from './graph-canvas';

/**
 * A ticket's tasks as a graph, each coloured by its status: edges run from a
 * dependency to the task that waits for it. A click opens the task. Up to
 * DAGRE_MAX_NODES tasks: dagre's layout drawn in SVG; above, a cheap layered
 * layout drawn on a canvas, only what is in view (dagre would block the page for
 * seconds, and thousands of SVG nodes slow every update).
 */
export function DependencyGraph({ tasks }: { tasks: readonly GraphTask[] }) {
  // Laid out again only when the graph's shape changes, not on a status change.
  const shape = tasks.map((t) => `${t.key}<${t.dependsOn.join(',')}`).join(';');
  const { placed, ms } = useMemo(() => {
    const started = performance.now();
    const layout = chooseLayout(tasks);
    return { placed: layout, ms: performance.now() - started };
  }, [shape]);
  if (tasks.length > DAGRE_MAX_NODES) {
    return <GraphCanvas placed={placed} tasks={tasks} layoutMs={ms} />;
  }
  return <SvgGraph placed={placed} tasks={tasks} />;
}

function SvgGraph({ placed, tasks }: { placed: GraphLayout; tasks: readonly GraphTask[] }) {
  const navigate = useNavigate();
  const byKey = new Map(tasks.map((t) => [t.key, t]));
  return (
    <div className="graph-scroll">
      <svg
        className="graph"
        role="img"
        aria-label="dependency graph"
        width={placed.width}
        height={placed.height}
        viewBox={`0 0 ${placed.width} ${placed.height}`}
      >
        <defs>
          <marker
            id="arrow"
            viewBox="0 0 10 10"
            refX="9"
            refY="5"
            markerWidth="7"
            markerHeight="7"
            orient="auto-start-reverse"
          >
            <path d="M 0 0 L 10 5 L 0 10 z" className="graph-arrow" />
          </marker>
        </defs>
        {placed.edges.map((e) => (
          <path
            key={`${e.from}->${e.to}`}
            d={e.path}
            className={`graph-edge tone-${toneOf(byKey.get(e.from)?.status ?? 'PENDING')}`}
            markerEnd="url(#arrow)"
          />
        ))}
        {placed.nodes.map(({ task: laidOut, x, y }) => {
          const task = byKey.get(laidOut.key) ?? laidOut;
          const label = task.title ?? task.key;
          return (
            <g
              key={task.key}
              className={`graph-node tone-${toneOf(task.status)}`}
              data-task-key={task.key}
              data-status={task.status}
              transform={`translate(${x},${y})`}
              role="link"
              tabIndex={0}
              aria-label={`${task.key}: ${statusLabel(task.status)}`}
              onClick={() => void navigate(`/tasks/${task.id}`)}
              onKeyDown={(event) => {
                if (event.key === 'Enter') void navigate(`/tasks/${task.id}`);
              }}
            >
              <title>{`${task.key}${task.title ? ` — ${task.title}` : ''}: ${statusLabel(task.status)}`}</title>
              <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx="8" />
              <text x="12" y="18" className="graph-key">
                {clip(label, 22)}
              </text>
              <text x="12" y="34" className="graph-status">
                {statusLabel(task.status)}
                {task.phase ? ` · ${clip(task.phase, 12)}` : ''}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
