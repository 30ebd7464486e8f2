import type { Issue } from '@drover/contracts';

export interface GraphNode {
  key: string;
  depends_on: readonly string[];
}

export type GraphError =
  | { code: 'DUPLICATE_KEYS'; keys: string[] }
  | { code: 'UNKNOWN_DEPENDENCIES'; references: { task: string; dependsOn: string }[] }
  | { code: 'SELF_DEPENDENCY'; keys: string[] }
  | { code: 'CYCLE'; cycle: string[] };

export type GraphResult = { ok: true; order: string[] } | { ok: false; errors: GraphError[] };

/**
 * Checks a ticket's task graph: unique keys, known references, no task that
 * depends on itself, no cycle. On success returns a topological order (Kahn's
 * algorithm, stable in input order); on a cycle, names one cycle in full.
 * Linear in tasks + edges, iterative (no recursion depth limit on large graphs).
 */
export function validateGraph(nodes: readonly GraphNode[]): GraphResult {
  const errors: GraphError[] = [];
  const seen = new Set<string>();
  const duplicates = new Set<string>();
  for (const { key } of nodes) (seen.has(key) ? duplicates : seen).add(key);
  if (duplicates.size) errors.push({ code: 'DUPLICATE_KEYS', keys: [...duplicates] });

  const unknown: { task: string; dependsOn: string }[] = [];
  const selfDeps: string[] = [];
  for (const node of nodes) {
    for (const dep of node.depends_on) {
      if (dep === node.key) selfDeps.push(node.key);
      else if (!seen.has(dep)) unknown.push({ task: node.key, dependsOn: dep });
    }
  }
  if (unknown.length) errors.push({ code: 'UNKNOWN_DEPENDENCIES', references: unknown });
  if (selfDeps.length) errors.push({ code: 'SELF_DEPENDENCY', keys: [...new Set(selfDeps)] });
  if (errors.length) return { ok: false, errors };

  const deps = new Map<string, string[]>();
  const dependents = new Map<string, string[]>();
  const indegree = new Map<string, number>();
  for (const node of nodes) {
    const unique = [...new Set(node.depends_on)];
    deps.set(node.key, unique);
    indegree.set(node.key, unique.length);
    for (const dep of unique) {
      const list = dependents.get(dep);
      if (list) list.push(node.key);
      else dependents.set(dep, [node.key]);
    }
  }
  const queue = nodes.filter((n) => indegree.get(n.key) === 0).map((n) => n.key);
  const order: string[] = [];
  for (let i = 0; i < queue.length; i++) {
    const key = queue[i];
    order.push(key);
    for (const next of dependents.get(key) ?? []) {
      const left = (indegree.get(next) ?? 0) - 1;
      indegree.set(next, left);
      if (left === 0) queue.push(next);
    }
  }
  if (order.length === nodes.length) return { ok: true, order };
  return { ok: false, errors: [{ code: 'CYCLE', cycle: findCycle(deps, indegree) }] };
}

/** Walks dependency edges among the nodes Kahn's algorithm could not order until a key repeats. */
function findCycle(deps: Map<string, string[]>, indegree: Map<string, number>): string[] {
  const stuck = new Set([...indegree].filter(([, d]) => d > 0).map(([k]) => k));
  // Every stuck node has a stuck dependency, so following one always finds a cycle.
  let current = stuck.values().next().value as string;
  const position = new Map<string, number>();
  const path: string[] = [];
  while (!position.has(current)) {
    position.set(current, path.length);
    path.push(current);
    current = (deps.get(current) ?? []).find((d) => stuck.has(d)) as string;
  }
  // path runs along "depends on" edges; report it in execution order (a -> b means b waits for a).
  const cycle = path.slice(position.get(current)).reverse();
  return [...cycle, cycle[0]];
}

/** Human messages for graph errors, each naming the offending keys. */
export function describeGraphErrors(errors: readonly GraphError[]): Issue[] {
  return errors.flatMap((error): Issue[] => {
    switch (error.code) {
      case 'DUPLICATE_KEYS':
        return [{ path: 'tasks', message: `duplicate task keys: ${error.keys.join(', ')}` }];
      case 'UNKNOWN_DEPENDENCIES':
        return error.references.map((r) => ({
          path: `tasks.${r.task}.depends_on`,
          message: `task "${r.task}" depends on unknown task "${r.dependsOn}"`,
        }));
      case 'SELF_DEPENDENCY':
        return error.keys.map((k) => ({
          path: `tasks.${k}.depends_on`,
          message: `task "${k}" depends on itself`,
        }));
      case 'CYCLE':
        return [{ path: 'tasks', message: `dependency cycle: ${error.cycle.join(' -> ')}` }];
    }
  });
}
