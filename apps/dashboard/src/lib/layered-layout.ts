import {
  NODE_HEIGHT,
  NODE_WIDTH,
  type GraphLayout,
  type GraphTask,
  type PlacedNode,
} from './graph-layout';

const MARGIN = 16;
const NODE_GAP = 14;
const RANK_GAP = 56;
/** Most nodes one above the other: a wider rank wraps into more columns. */
export const ROWS_PER_COLUMN = 40;

/**
 * A cheap layered layout for graphs too large for dagre (which takes seconds at
 * 2,000 nodes): each task's rank is its longest dependency chain, ranks go left
 * to right, a rank's tasks are ordered by where their dependencies sit (one
 * barycentre pass) and wrap into columns of ROWS_PER_COLUMN. Linear in the
 * nodes and edges; edges are straight lines. A task in a cycle (refused at
 * submission, so never expected) goes after every rank.
 */
export function layoutLayered(tasks: readonly GraphTask[]): GraphLayout {
  const index = new Map(tasks.map((t, i) => [t.key, i]));
  const deps = tasks.map((t) =>
    [...new Set(t.dependsOn)].flatMap((d) => {
      const i = index.get(d);
      return i === undefined ? [] : [i];
    }),
  );
  const rank = ranks(tasks.length, deps);
  const byRank: number[][] = [];
  for (let i = 0; i < tasks.length; i++) (byRank[rank[i]] ??= []).push(i);

  const row = new Float64Array(tasks.length);
  const nodes: PlacedNode[] = new Array<PlacedNode>(tasks.length);
  let column = 0;
  let rows = 1;
  for (const members of byRank) {
    if (!members) continue;
    const order = members
      .map((i, at) => ({ i, at, centre: centre(deps[i], row, at) }))
      .sort((a, b) => a.centre - b.centre || a.at - b.at);
    order.forEach(({ i }, at) => {
      row[i] = at;
      const x = MARGIN + (column + Math.floor(at / ROWS_PER_COLUMN)) * (NODE_WIDTH + RANK_GAP);
      const y = MARGIN + (at % ROWS_PER_COLUMN) * (NODE_HEIGHT + NODE_GAP);
      nodes[i] = { task: tasks[i], x, y };
    });
    column += Math.ceil(members.length / ROWS_PER_COLUMN);
    rows = Math.max(rows, Math.min(members.length, ROWS_PER_COLUMN));
  }
  const edges = tasks.flatMap((task, to) =>
    deps[to].map((from) => {
      const a = nodes[from];
      const b = nodes[to];
      const path = `M${(a.x + NODE_WIDTH).toFixed(1)},${(a.y + NODE_HEIGHT / 2).toFixed(1)} L${b.x.toFixed(1)},${(b.y + NODE_HEIGHT / 2).toFixed(1)}`;
      return { from: tasks[from].key, to: task.key, path };
    }),
  );
  return {
    width: 2 * MARGIN + Math.max(1, column) * (NODE_WIDTH + RANK_GAP) - RANK_GAP,
    height: 2 * MARGIN + rows * (NODE_HEIGHT + NODE_GAP) - NODE_GAP,
    nodes,
    edges,
  };
}

/** Longest path from a root, by Kahn's order; nodes left in a cycle go after the rest. */
function ranks(n: number, deps: readonly number[][]): Int32Array {
  const rank = new Int32Array(n);
  const waiting = new Int32Array(n);
  const dependents: number[][] = Array.from({ length: n }, () => []);
  for (let i = 0; i < n; i++) {
    waiting[i] = deps[i].length;
    for (const d of deps[i]) dependents[d].push(i);
  }
  const queue: number[] = [];
  for (let i = 0; i < n; i++) if (waiting[i] === 0) queue.push(i);
  let top = 0;
  for (let head = 0; head < queue.length; head++) {
    const i = queue[head];
    top = Math.max(top, rank[i]);
    for (const next of dependents[i]) {
      rank[next] = Math.max(rank[next], rank[i] + 1);
      if (--waiting[next] === 0) queue.push(next);
    }
  }
  if (queue.length < n) {
    for (let i = 0; i < n; i++) if (waiting[i] > 0) rank[i] = top + 1;
  }
  return rank;
}

/** Where a node's dependencies sit on average (its own place when it has none). */
function centre(deps: readonly number[], row: Float64Array, own: number): number {
  if (!deps.length) return own;
  let sum = 0;
  for (const d of deps) sum += row[d];
  return sum / deps.length;
}
