import type { z } from 'zod';
import { quote, type Segment } from './located-issue';
import { CommandStep, Resources } from './task-spec';
import { PhaseInput, RetryInput, SubmitTicket, TaskInput } from './tickets';

// The fields of the objects a ticket nests, by the key they sit under, for suggestions.
const TICKET_KEYS = Object.keys(SubmitTicket.in.shape);
const FIELDS_UNDER = new Map<string, readonly string[]>([
  ['tasks', Object.keys(TaskInput.shape)],
  ['phases', Object.keys(PhaseInput.shape)],
  ['steps', Object.keys(CommandStep.shape)],
  ['retry', Object.keys(RetryInput.shape)],
  ['resources', Object.keys(Resources.shape)],
]);

/** Zod's issues with their paths kept as segments; an unknown key gets its own path. */
export function zodIssues(error: z.ZodError): { path: Segment[]; message: string }[] {
  return error.issues.flatMap((zodIssue) => {
    const path = zodIssue.path.map((s) => (typeof s === 'number' ? s : String(s)));
    if (zodIssue.code === 'unrecognized_keys') {
      const known = fieldsUnder(path);
      return zodIssue.keys.map((key) => ({
        path: [...path, key],
        message: unknownField(key, known),
      }));
    }
    if (zodIssue.code === 'invalid_union') return [{ path, message: unionMessage(zodIssue) }];
    return [{ path, message: zodIssue.message }];
  });
}

/** Names the types a union takes instead of zod's bare "Invalid input" (`timeout: true`). */
function unionMessage(zodIssue: z.core.$ZodIssueInvalidUnion): string {
  const expected = zodIssue.errors.map((branch) =>
    branch.length === 1 && branch[0].code === 'invalid_type' ? branch[0].expected : undefined,
  );
  const all = expected.length > 0 && expected.every((e) => e !== undefined);
  return zodIssue.message === 'Invalid input' && all
    ? `Invalid input: expected ${expected.join(' or ')}`
    : zodIssue.message;
}

function fieldsUnder(path: readonly Segment[]): readonly string[] {
  const parent = path.findLast((s) => typeof s === 'string');
  return parent === undefined ? TICKET_KEYS : (FIELDS_UNDER.get(String(parent)) ?? []);
}

export function unknownField(
  key: string,
  known: readonly string[],
  hints?: ReadonlyMap<string, string>,
): string {
  const hint = hints?.get(key) ?? closest(key, known);
  return `unknown field ${quote(key)}${hint ? ` (${hint})` : ''}`;
}

/** The known field within 3 edits of `key`, when fewer edits than `key` has letters. */
function closest(key: string, known: readonly string[]): string | undefined {
  if (key.length > 64) return undefined;
  let best: string | undefined;
  let bestDistance = 4;
  for (const field of known) {
    const distance = editDistance(key, field);
    if (distance < bestDistance && distance < key.length) [best, bestDistance] = [field, distance];
  }
  return best && `did you mean "${best}"?`;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1);
      row.push(Math.min(previous[j] + 1, row[j - 1] + 1, substitution));
    }
    previous = row;
  }
  return previous[b.length];
}
