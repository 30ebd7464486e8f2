import { Graph, layout } from '@dagrejs/dagre';
import type { TaskStatus } from '../api';

export interface GraphTask {
  id: string;
  key: string;
  title: string | null;
  status: TaskStatus;
  phase: string | null;
  dependsOn: readonly string[];
}

export interface PlacedNode {
  task: GraphTask;
  /** Top-left corner. */
  x: number;
  y: number;
}

export interface PlacedEdge {
  from: string;
  to: string;
  /** An SVG path through the layout's points. */
  path: string;
}

export interface GraphLayout {
  width: number;
  height: number;
  nodes: PlacedNode[];
  edges: PlacedEdge[];
}

export const NODE_WIDTH = 180;
export const NODE_HEIGHT = 44;
const MARGIN = 16;

interface NodeData {
  width: number;
  height: number;
  x?: number;
  y?: number;
}

interface EdgeData {
  points?: { x: number; y: number }[];
}

/**
 * Where each task and each dependency goes, left to right in dependency order
 * (dagre). Depends only on the keys and the edges: a status change moves nothing.
 */
export function layoutGraph(tasks: readonly GraphTask[]): GraphLayout {
  const g = new Graph<Record<string, unknown>, NodeData, EdgeData>();
  g.setGraph({ rankdir: 'LR', nodesep: 18, ranksep: 56, marginx: MARGIN, marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  const keys = new Set(tasks.map((t) => t.key));
  for (const task of tasks) g.setNode(task.key, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const task of tasks) {
    for (const dependency of task.dependsOn) {
      if (keys.has(dependency)) g.setEdge(dependency, task.key);
    }
  }
  layout(g);
  const nodes = tasks.map((task) => {
    const placed = g.node(task.key);
    return {
      task,
      x: (placed.x ?? 0) - NODE_WIDTH / 2,
      y: (placed.y ?? 0) - NODE_HEIGHT / 2,
    };
  });
  const edges = g.edges().map((e) => ({
    from: e.v,
    to: e.w,
    path: pathThrough(g.edge(e).points ?? []),
  }));
  const label = g.graph() as { width?: number; height?: number };
  return {
    width: Math.max(label.width ?? 0, NODE_WIDTH + 2 * MARGIN),
    height: Math.max(label.height ?? 0, NODE_HEIGHT + 2 * MARGIN),
    nodes,
    edges,
  };
}

function pathThrough(points: readonly { x: number; y: number }[]): string {
  return points
    .map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)},${p.y.toFixed(1)}`)
    .join(' ');
}

/** Above this many tasks dagre takes too long on the main thread (about 0.2 s at 150, 2.6 s at 2,000). */
export const DAGRE_MAX_NODES = 150;
