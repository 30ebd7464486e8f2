import { layoutGraph, NODE_WIDTH, type GraphTask } from './graph-layout';

const task = (key: string, dependsOn: string[] = []): GraphTask => ({
  id: `id-${key}`,
  key,
  title: null,
  status: 'PENDING',
  phase: null,
  dependsOn,
});

describe(layoutGraph.name, () => {
  it('places each task after the tasks it depends on, left to right', () => {
    const placed = layoutGraph([
      task('build'),
      task('test', ['build']),
      task('lint', ['build']),
      task('ship', ['test', 'lint']),
    ]);
    const x = Object.fromEntries(placed.nodes.map((n) => [n.task.key, n.x]));
    expect(x.build).toBeLessThan(x.test);
    expect(x.test).toBeLessThan(x.ship);
    expect(x.lint).toBeLessThan(x.ship);
    expect(placed.edges.map((e) => `${e.from}->${e.to}`).sort()).toEqual([
      'build->lint',
      'build->test',
      'lint->ship',
      'test->ship',
    ]);
    for (const e of placed.edges) expect(e.path).toMatch(/^M[\d.]+,[\d.]+( L[\d.]+,[\d.]+)+$/);
    expect(placed.width).toBeGreaterThanOrEqual(3 * NODE_WIDTH);
  });

  it('draws a lone task, and ignores a dependency on a key it does not have', () => {
    const placed = layoutGraph([task('only', ['elsewhere'])]);
    expect(placed.nodes).toHaveLength(1);
    expect(placed.edges).toEqual([]);
  });
});
