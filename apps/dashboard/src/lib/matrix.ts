import type { MatrixCell } from '../api';

/** An experiment's matrix as a grid: agents down, models across (null: the task's own). */
export interface MatrixGrid {
  agents: string[];
  models: (string | null)[];
  cell(agent: string, model: string | null): MatrixCell | undefined;
}

export function matrixGrid(cells: readonly MatrixCell[]): MatrixGrid {
  const agents = [...new Set(cells.map((c) => c.agent))];
  const models = [...new Set(cells.map((c) => c.model))].sort((a, b) =>
    a === null ? -1 : b === null ? 1 : 0,
  );
  const byKey = new Map(cells.map((c) => [`${c.agent}\u0000${c.model ?? ''}`, c]));
  return {
    agents,
    models,
    cell: (agent, model) => byKey.get(`${agent}\u0000${model ?? ''}`),
  };
}

/** A pass rate as "67%" ("—" before any trial finished). */
export function percent(rate: number | null): string {
  return rate === null ? '—' : `${Math.round(rate * 100)}%`;
}
