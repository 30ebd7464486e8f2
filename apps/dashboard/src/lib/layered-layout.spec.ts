import { NODE_HEIGHT, NODE_WIDTH, type GraphTask } from './graph-layout';
import { layoutLayered, ROWS_PER_COLUMN } from './layered-layout';

const task = (key: string, dependsOn: string[] = []): GraphTask => ({
  id: `id-${key}`,
  key,
  title: null,
  status: 'PENDING',
  phase: null,
  dependsOn,
});

/** `n` tasks in layers of `width`, each depending on the one before it in the layer above. */
function layers(n: number, width: number): GraphTask[] {
  return Array.from({ length: n }, (_, i) => task(`t${i}`, i >= width ? [`t${i - width}`] : []));
}

describe(layoutLayered.name, () => {
  it('places each task right of every task it depends on', () => {
    const tasks = [
      task('build'),
      task('test', ['build']),
      task('lint', ['build']),
      task('ship', ['test', 'lint']),
    ];
    const placed = layoutLayered(tasks);
    const x = Object.fromEntries(placed.nodes.map((n) => [n.task.key, n.x]));
    expect(x.build).toBeLessThan(x.test);
    expect(x.test).toBe(x.lint);
    expect(x.lint).toBeLessThan(x.ship);
    expect(placed.edges.map((e) => `${e.from}->${e.to}`).sort()).toEqual([
      'build->lint',
      'build->test',
      'lint->ship',
      'test->ship',
    ]);
    for (const e of placed.edges) expect(e.path).toMatch(/^M[\d.]+,[\d.]+ L[\d.]+,[\d.]+$/);
  });

  it('wraps a wide rank into columns, and no two nodes overlap', () => {
    const placed = layoutLayered(layers(100, 100));
    const columns = new Set(placed.nodes.map((n) => n.x));
    expect(columns.size).toBe(Math.ceil(100 / ROWS_PER_COLUMN));
    const spots = new Set(placed.nodes.map((n) => `${n.x},${n.y}`));
    expect(spots.size).toBe(100);
    for (const n of placed.nodes) {
      expect(n.x + NODE_WIDTH).toBeLessThanOrEqual(placed.width);
      expect(n.y + NODE_HEIGHT).toBeLessThanOrEqual(placed.height);
    }
  });

  it('lays out 2,000 tasks and their edges in a fraction of the time dagre takes', () => {
    const tasks = layers(2000, 50);
    const started = performance.now();
    const placed = layoutLayered(tasks);
    const ms = performance.now() - started;
    expect(placed.nodes).toHaveLength(2000);
    expect(placed.edges).toHaveLength(1950);
    // dagre takes about 2.6 s for this graph on the same machine.
    expect(ms).toBeLessThan(250);
  });

  it('still places every task of a cycle (never submitted, but never fatal)', () => {
    const placed = layoutLayered([task('a', ['b']), task('b', ['a']), task('c')]);
    expect(placed.nodes.map((n) => n.task.key)).toEqual(['a', 'b', 'c']);
    expect(placed.nodes[0].x).toBeGreaterThan(placed.nodes[2].x);
  });
});
