import type { MatrixCell } from '../api';
import { matrixGrid, percent } from './matrix';

const cell = (agent: string, model: string | null, passed = 1): MatrixCell => ({
  agent,
  model,
  trials: 2,
  finished: 2,
  passed,
  passRate: passed / 2,
  costUsd: null,
  inputTokens: null,
  outputTokens: null,
});

describe(matrixGrid.name, () => {
  it('puts agents down and models across, the task-own model first', () => {
    const grid = matrixGrid([
      cell('claude-code', 'sonnet'),
      cell('claude-code', 'opus', 2),
      cell('nop', null, 0),
    ]);
    expect(grid.agents).toEqual(['claude-code', 'nop']);
    expect(grid.models).toEqual([null, 'sonnet', 'opus']);
    expect(grid.cell('claude-code', 'opus')?.passed).toBe(2);
    expect(grid.cell('nop', 'opus')).toBeUndefined();
    expect(grid.cell('nop', null)?.passRate).toBe(0);
  });
});

describe(percent.name, () => {
  it('rounds a rate, and shows a dash before any trial finished', () => {
    expect(percent(2 / 3)).toBe('67%');
    expect(percent(0)).toBe('0%');
    expect(percent(null)).toBe('—');
  });
});
