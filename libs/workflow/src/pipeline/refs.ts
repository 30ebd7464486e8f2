/**
 * References to upstream steps (`steps.lint.output.count`): what they look like,
 * reading one from text, and resolving one against the facts of finished steps.
 * The only property access on user data is the own-property walk in `resolveRef`.
 */

/**
 * What is known about each finished step, by key: how it ended, the output its
 * run wrote, and its run's error message (null when it had none).
 */
export type StepFacts = ReadonlyMap<
  string,
  { status: string; output: Record<string, unknown> | null; error?: string | null }
>;

/**
 * `steps.<key>.status`, `steps.<key>.error`, or `steps.<key>.output` followed by
 * object fields and array indexes.
 */
export type StepRef = { step: string; kind: 'status' | 'error' | 'output'; path: string[] };

/** Where a text fails to parse (0-based index into it) and what was wrong there. */
export type ParseFailure = { ok: false; index: number; message: string };

/** Why a reference, template or condition could not be evaluated against the facts. */
export type EvaluationFailure = { ok: false; message: string };

const STEP_KEY = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const SEGMENT = /^(?:[A-Za-z_][A-Za-z0-9_-]*|0|[1-9][0-9]*)$/;
const ARRAY_INDEX = /^(?:0|[1-9][0-9]*)$/;
const REF_CHAR = /[A-Za-z0-9_.-]/;
const REF_SHAPE =
  'expected steps.<key>.output[.<field>...], steps.<key>.status or steps.<key>.error';

/** Renders a failure the way submission errors show it: `at 14: expected ...`. */
export function formatParseFailure(failure: { index: number; message: string }): string {
  return `at ${failure.index}: ${failure.message}`;
}

/** The text form of a reference, as a user would write it. */
export function describeRef(ref: StepRef): string {
  return `steps.${ref.step}.${ref.kind}${ref.path.map((segment) => `.${segment}`).join('')}`;
}

/** Reads a whole text as one reference (`steps.lint.output.errors.0`). */
export function parseRef(
  text: string,
): { ok: true; ref: StepRef } | { ok: false; message: string } {
  const [head, step, kind, ...path] = text.split('.');
  const bad = (why: string): { ok: false; message: string } => ({
    ok: false,
    message: `${JSON.stringify(text)} is not a reference: ${why}`,
  });
  if (head !== 'steps' || !step) return bad(REF_SHAPE);
  if (!STEP_KEY.test(step)) {
    return bad(`${JSON.stringify(step)} is not a step key (a-z, 0-9, "_", "-")`);
  }
  if ((kind === 'status' || kind === 'error') && path.length === 0) {
    return { ok: true, ref: { step, kind, path } };
  }
  if (kind === 'output' && path.every((segment) => SEGMENT.test(segment))) {
    return { ok: true, ref: { step, kind, path } };
  }
  return bad(REF_SHAPE);
}

/** Index just past the run of characters matching `chars` that starts at `from`. */
export function runEnd(text: string, from: number, chars: RegExp): number {
  let end = from;
  while (end < text.length && chars.test(text[end])) end++;
  return end;
}

/** Reads the reference that starts at `start`: it runs as far as reference characters go. */
export function refAt(
  text: string,
  start: number,
): { ok: true; ref: StepRef; end: number } | { ok: false; message: string } {
  const end = runEnd(text, start, REF_CHAR);
  const parsed = parseRef(text.slice(start, end));
  return parsed.ok ? { ok: true, ref: parsed.ref, end } : parsed;
}

/** `a number`, `an array`, `null`: how messages name the type of a JSON value. */
export function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

export function withArticle(type: string): string {
  if (type === 'null') return 'null';
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/**
 * One step down a JSON value: arrays by integer index, objects by own property.
 * Reads data descriptors only, so neither a prototype nor a getter is ever consulted.
 */
function child(value: unknown, segment: string): { found: boolean; value?: unknown } {
  if (typeof value !== 'object' || value === null) return { found: false };
  if (Array.isArray(value) && !ARRAY_INDEX.test(segment)) return { found: false };
  const descriptor = Object.hasOwn(value, segment)
    ? Object.getOwnPropertyDescriptor(value, segment)
    : undefined;
  return descriptor && 'value' in descriptor
    ? { found: true, value: descriptor.value as unknown }
    : { found: false };
}

/** Why `segment` could not be read from `value`, as a hint after the message. */
function missHint(value: unknown): string {
  if (Array.isArray(value)) return ` (an array of ${value.length} items)`;
  if (typeof value === 'object' && value !== null) return '';
  return ` (it is ${withArticle(typeName(value))})`;
}

/** The value a reference points at, or why there is none. */
export function resolveRef(
  ref: StepRef,
  facts: StepFacts,
): { ok: true; value: unknown } | EvaluationFailure {
  const fact = facts.get(ref.step);
  if (!fact) return { ok: false, message: `steps.${ref.step} has not run` };
  if (ref.kind === 'status') return { ok: true, value: fact.status };
  if (ref.kind === 'error') return { ok: true, value: fact.error ?? null };
  if (fact.output === null) {
    return { ok: false, message: `steps.${ref.step} has no output (it ended ${fact.status})` };
  }
  let value: unknown = fact.output;
  for (const [i, segment] of ref.path.entries()) {
    const next = child(value, segment);
    if (!next.found) {
      const where = ['output', ...ref.path.slice(0, i)].join('.');
      const hint = missHint(value);
      return {
        ok: false,
        message: `${describeRef(ref)}: ${ref.step}'s ${where} has no ${JSON.stringify(segment)}${hint}`,
      };
    }
    value = next.value;
  }
  return { ok: true, value };
}
