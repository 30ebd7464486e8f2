import { describeGraphErrors, validateGraph, type GraphError, type GraphNode } from './graph';

const node = (key: string, ...dependsOn: string[]): GraphNode => ({ key, depends_on: dependsOn });

function orderOf(nodes: readonly GraphNode[]): string[] {
  const result = validateGraph(nodes);
  if (!result.ok) throw new Error(`expected a valid graph, got ${JSON.stringify(result.errors)}`);
  return result.order;
}

function errorsOf(nodes: readonly GraphNode[]): GraphError[] {
  const result = validateGraph(nodes);
  if (result.ok) throw new Error(`expected graph errors, got order ${result.order.join(',')}`);
  return result.errors;
}

function cycleOf(nodes: readonly GraphNode[]): string[] {
  const errors = errorsOf(nodes);
  expect(errors).toHaveLength(1);
  const [error] = errors;
  if (error.code !== 'CYCLE') throw new Error(`expected a CYCLE error, got ${error.code}`);
  return error.cycle;
}

/** True when `to` waits for `from`, i.e. `from -> to` is an edge in execution order. */
function isEdge(nodes: readonly GraphNode[], from: string, to: string): boolean {
  return nodes.some((n) => n.key === to && n.depends_on.includes(from));
}

function expectDependenciesFirst(nodes: readonly GraphNode[], order: readonly string[]): void {
  for (const n of nodes) {
    for (const dep of n.depends_on) {
      expect(order.indexOf(dep)).toBeLessThan(order.indexOf(n.key));
    }
  }
}

describe(validateGraph.name, () => {
  it('orders a diamond so that every task comes after its dependencies', () => {
    // Input deliberately lists dependents before their dependencies.
    const nodes = [node('d', 'b', 'c'), node('c', 'a'), node('b', 'a'), node('a')];
    const order = orderOf(nodes);
    expect([...order].sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(order[0]).toBe('a');
    expect(order[3]).toBe('d');
    expectDependenciesFirst(nodes, order);
  });

  it('accepts a single task without dependencies', () => {
    expect(orderOf([node('only')])).toEqual(['only']);
  });

  it('names every duplicated key once', () => {
    const errors = errorsOf([node('a'), node('b'), node('a'), node('b'), node('a'), node('c')]);
    expect(errors).toEqual([{ code: 'DUPLICATE_KEYS', keys: ['a', 'b'] }]);
  });

  it('names each unknown reference with the task that makes it and the missing key', () => {
    const errors = errorsOf([node('a', 'ghost'), node('b', 'a', 'phantom')]);
    expect(errors).toEqual([
      {
        code: 'UNKNOWN_DEPENDENCIES',
        references: [
          { task: 'a', dependsOn: 'ghost' },
          { task: 'b', dependsOn: 'phantom' },
        ],
      },
    ]);
  });

  it('reports a task that depends on itself as a self-dependency, not a cycle', () => {
    const errors = errorsOf([node('a'), node('b', 'a', 'b')]);
    expect(errors).toEqual([{ code: 'SELF_DEPENDENCY', keys: ['b'] }]);
  });

  it('reports duplicate keys, unknown references and self-dependencies together', () => {
    const errors = errorsOf([node('a', 'a'), node('a'), node('b', 'nope')]);
    expect(errors.map((e) => e.code)).toEqual([
      'DUPLICATE_KEYS',
      'UNKNOWN_DEPENDENCIES',
      'SELF_DEPENDENCY',
    ]);
  });

  it('reports a 3-node cycle in execution order, ending where it started', () => {
    // b waits for a, c waits for b, a waits for c.
    const nodes = [node('a', 'c'), node('b', 'a'), node('c', 'b')];
    const cycle = cycleOf(nodes);
    expect(cycle).toHaveLength(4);
    expect(cycle[cycle.length - 1]).toBe(cycle[0]);
    expect(new Set(cycle.slice(0, -1))).toEqual(new Set(['a', 'b', 'c']));
    for (let i = 0; i + 1 < cycle.length; i++) {
      expect(isEdge(nodes, cycle[i], cycle[i + 1])).toBe(true);
    }
    // The walk starts at the first stuck node (a) and is reversed into execution order.
    expect(cycle).toEqual(['b', 'c', 'a', 'b']);
  });

  it('names only the cycle when it hangs off an acyclic part of the graph', () => {
    const nodes = [
      node('root'),
      node('left', 'root'),
      // downstream of the cycle: stuck too, but not part of it
      node('tail', 'x'),
      node('x', 'left', 'z'),
      node('y', 'x'),
      node('z', 'y'),
      node('free', 'root'),
    ];
    const cycle = cycleOf(nodes);
    expect(new Set(cycle)).toEqual(new Set(['x', 'y', 'z']));
    expect(cycle).toHaveLength(4);
    expect(cycle[cycle.length - 1]).toBe(cycle[0]);
    for (let i = 0; i + 1 < cycle.length; i++) {
      expect(isEdge(nodes, cycle[i], cycle[i + 1])).toBe(true);
    }
  });

  it('reports a 2-node cycle', () => {
    const nodes = [node('a', 'b'), node('b', 'a')];
    const cycle = cycleOf(nodes);
    expect(cycle).toHaveLength(3);
    expect(cycle[0]).toBe(cycle[2]);
    expect(isEdge(nodes, cycle[0], cycle[1])).toBe(true);
    expect(isEdge(nodes, cycle[1], cycle[2])).toBe(true);
  });

  it('tolerates the same dependency listed more than once', () => {
    const nodes = [node('a'), node('b', 'a', 'a', 'a'), node('c', 'b', 'a', 'b')];
    expect(orderOf(nodes)).toEqual(['a', 'b', 'c']);
  });

  it('validates a 10,000-node chain without exhausting the stack', () => {
    const n = 10_000;
    const nodes = Array.from({ length: n }, (_, i) =>
      i === 0 ? node('t0') : node(`t${i}`, `t${i - 1}`),
    );
    // Reverse the input so the order has to be worked out, not copied.
    const order = orderOf([...nodes].reverse());
    expect(order).toHaveLength(n);
    expect(order[0]).toBe('t0');
    expect(order[n - 1]).toBe(`t${n - 1}`);
    expectDependenciesFirst(nodes, order);
  });

  it('validates a 10,000-node fan-out', () => {
    const n = 10_000;
    const nodes = [node('root'), ...Array.from({ length: n - 1 }, (_, i) => node(`l${i}`, 'root'))];
    const order = orderOf(nodes);
    expect(order).toHaveLength(n);
    expect(order[0]).toBe('root');
    expect(new Set(order).size).toBe(n);
  });

  it('names a 10,000-node cycle without exhausting the stack', () => {
    const n = 10_000;
    const nodes = Array.from({ length: n }, (_, i) => node(`t${i}`, `t${(i + n - 1) % n}`));
    const cycle = cycleOf(nodes);
    expect(cycle).toHaveLength(n + 1);
    expect(cycle[n]).toBe(cycle[0]);
  });
});

describe(describeGraphErrors.name, () => {
  it('lists duplicate keys in one issue on the tasks path', () => {
    expect(describeGraphErrors([{ code: 'DUPLICATE_KEYS', keys: ['a', 'b'] }])).toEqual([
      { path: 'tasks', message: 'duplicate task keys: a, b' },
    ]);
  });

  it('gives one issue per unknown reference naming the task and the missing key', () => {
    const issues = describeGraphErrors([
      {
        code: 'UNKNOWN_DEPENDENCIES',
        references: [
          { task: 'a', dependsOn: 'ghost' },
          { task: 'b', dependsOn: 'phantom' },
        ],
      },
    ]);
    expect(issues).toEqual([
      { path: 'tasks.a.depends_on', message: 'task "a" depends on unknown task "ghost"' },
      { path: 'tasks.b.depends_on', message: 'task "b" depends on unknown task "phantom"' },
    ]);
  });

  it('gives one issue per self-dependent task', () => {
    expect(describeGraphErrors([{ code: 'SELF_DEPENDENCY', keys: ['x', 'y'] }])).toEqual([
      { path: 'tasks.x.depends_on', message: 'task "x" depends on itself' },
      { path: 'tasks.y.depends_on', message: 'task "y" depends on itself' },
    ]);
  });

  it('spells a cycle out as an arrow path', () => {
    expect(describeGraphErrors([{ code: 'CYCLE', cycle: ['b', 'c', 'a', 'b'] }])).toEqual([
      { path: 'tasks', message: 'dependency cycle: b -> c -> a -> b' },
    ]);
  });

  it('describes the errors validateGraph returns, in order', () => {
    const result = validateGraph([node('a', 'a'), node('a'), node('b', 'nope')]);
    if (result.ok) throw new Error('expected errors');
    expect(describeGraphErrors(result.errors).map((i) => i.message)).toEqual([
      'duplicate task keys: a',
      'task "b" depends on unknown task "nope"',
      'task "a" depends on itself',
    ]);
  });

  it('returns no issues for no errors', () => {
    expect(describeGraphErrors([])).toEqual([]);
  });
});
