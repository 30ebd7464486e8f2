import type { Prisma } from '@drover/db';

/** A JSON column Drover only ever writes an object to (a task's spec, a run's result). */
export function objectColumn(value: Prisma.JsonValue, column: string): Record<string, unknown> {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value;
  // Nothing writes another shape: a row that holds one was written outside Drover.
  throw new Error(
    `${column} holds ${Array.isArray(value) ? 'an array' : typeof value}, not an object`,
  );
}

/** A JSON column Drover only ever writes a list of text to (a runner's capabilities). */
export function textListColumn(value: Prisma.JsonValue, column: string): string[] {
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw new Error(`${column} holds something other than a list of text`);
}

/** A JSON column Drover only ever writes numbers by name to, or nothing (a project's ceilings). */
export function numbersColumn(
  value: Prisma.JsonValue | null,
  column: string,
): Record<string, number> | null {
  if (value === null) return null;
  const object = objectColumn(value, column);
  if (Object.values(object).every((v) => typeof v === 'number')) {
    return object as Record<string, number>;
  }
  throw new Error(`${column} holds something other than numbers by name`);
}
