/**
 * `{{ steps.<key>.output... }}` templates in prompts and shell commands: finding
 * them, parsing a text into literal parts and references, and filling them in.
 */

import {
  describeRef,
  refAt,
  resolveRef,
  runEnd,
  type EvaluationFailure,
  type ParseFailure,
  type StepFacts,
  type StepRef,
} from './refs';

/** A parsed template: literal text and the references to put between it. */
export type TemplatePart = string | StepRef;

/** How substituted values are written: raw (`text`), or each as one quoted shell word. */
export type RenderMode = 'text' | 'shell';

/**
 * Where the next template at or after `from` starts (`at`, its `{{`) and where its
 * reference starts. Only `{{` then optional blanks then `steps.` starts one, so Helm,
 * Go and Jinja braces pass through. `${{` is GitHub Actions syntax
 * (`${{ steps.x.outputs.y }}` in a workflow file a command writes) and always stays
 * literal; in shell mode a `$` before a quoted word would also change how it is read.
 */
function nextTemplate(text: string, from: number): { at: number; refStart: number } | undefined {
  for (let at = text.indexOf('{{', from); at >= 0; at = text.indexOf('{{', at + 1)) {
    if (text[at - 1] === '$') continue;
    const refStart = runEnd(text, at + 2, /[ \t]/);
    if (text.startsWith('steps.', refStart)) return { at, refStart };
  }
  return undefined;
}

/** Cheap check for the common case: false means the text has no template at all. */
export function hasTemplates(text: string): boolean {
  return nextTemplate(text, 0) !== undefined;
}

/** Why a template that read `ref` is not closed at `at`. */
function closeMessage(text: string, at: number, ref: StepRef): string {
  if (at >= text.length) return 'unterminated template: expected "}}"';
  const found = text[at];
  const hint = found === '[' ? ' (write an array index as .0)' : '';
  return `expected "}}" after ${describeRef(ref)}, found ${JSON.stringify(found)}${hint}`;
}

/** Splits a text into literal parts and references; a malformed `{{ steps.` is an error. */
export function parseTemplate(text: string): { ok: true; parts: TemplatePart[] } | ParseFailure {
  const parts: TemplatePart[] = [];
  let cursor = 0;
  for (let next = nextTemplate(text, 0); next; next = nextTemplate(text, cursor)) {
    const read = refAt(text, next.refStart);
    if (!read.ok) return { ok: false, index: next.refStart, message: read.message };
    const close = runEnd(text, read.end, /[ \t]/);
    if (!text.startsWith('}}', close)) {
      return { ok: false, index: close, message: closeMessage(text, close, read.ref) };
    }
    if (next.at > cursor) parts.push(text.slice(cursor, next.at));
    parts.push(read.ref);
    cursor = close + 2;
  }
  if (cursor < text.length) parts.push(text.slice(cursor));
  return { ok: true, parts };
}

/** The references a text's templates make, in order, or why the text does not parse. */
export function templateRefs(text: string): { ok: true; refs: StepRef[] } | ParseFailure {
  const parsed = parseTemplate(text);
  if (!parsed.ok) return parsed;
  return { ok: true, refs: parsed.parts.filter((part) => typeof part !== 'string') };
}

/** JSON values as text: strings raw, everything else as compact JSON. */
function valueText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'object') return JSON.stringify(value);
  return undefined;
}

/**
 * The variable a value is handed to commands in: `steps.lint.output.error_count`
 * is `DROVER_STEP_LINT_OUTPUT_ERROR_COUNT` (another name of the same shape gets a
 * `_2`, `_3` ... suffix).
 */
function bindingName(ref: StepRef, bindings: Map<string, string>, value: string): string {
  const base = `DROVER_STEP_${[ref.step, ref.kind, ...ref.path].join('_')}`
    .toUpperCase()
    .replace(/[^A-Z0-9_]/g, '_');
  for (let n = 1; ; n++) {
    const name = n === 1 ? base : `${base}_${n}`;
    const bound = bindings.get(name);
    if (bound === undefined || bound === value) return name;
  }
}

/**
 * Fills in a parsed template. `text` mode puts each value in the text. `shell`
 * mode never lets a value reach the shell's parser (quotes around a template,
 * a heredoc or a backslash before it would undo any quoting): the value goes
 * into `bindings` as a variable and the text gets `${NAME}`, which the shell
 * expands (one word inside double quotes, as any variable) and never evaluates.
 */
export function renderTemplate(
  parts: readonly TemplatePart[],
  facts: StepFacts,
  mode: RenderMode,
  bindings: Map<string, string> = new Map(),
): { ok: true; text: string } | EvaluationFailure {
  let text = '';
  for (const part of parts) {
    if (typeof part === 'string') {
      text += part;
      continue;
    }
    const resolved = resolveRef(part, facts);
    if (!resolved.ok) return resolved;
    const value = valueText(resolved.value);
    if (value === undefined) {
      return { ok: false, message: `${describeRef(part)} is not a JSON value` };
    }
    if (mode === 'text') {
      text += value;
      continue;
    }
    // No environment variable can hold NUL.
    if (value.includes('\0')) {
      return { ok: false, message: `${describeRef(part)} holds a NUL character` };
    }
    const name = bindingName(part, bindings, value);
    bindings.set(name, value);
    text += `\${${name}}`;
  }
  return { ok: true, text };
}
