/**
 * Pipeline expressions: references to upstream steps (`steps.lint.output.count`),
 * `{{ ... }}` templates in prompts and shell commands, and `when:` conditions.
 * Everything here is pure: text in, values or errors out. Conditions are read by a
 * hand-written tokenizer and recursive-descent parser (never eval or Function), and
 * the only property access on user data is the own-property walk in `resolveRef`.
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

/** Bounds on a condition, so that a hostile one costs little to reject. */
export const CONDITION_LIMITS = { length: 2_000, depth: 32, tokens: 500 } as const;

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

// ---------------------------------------------------------------------------
// References

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
function runEnd(text: string, from: number, chars: RegExp): number {
  let end = from;
  while (end < text.length && chars.test(text[end])) end++;
  return end;
}

/** Reads the reference that starts at `start`: it runs as far as reference characters go. */
function refAt(
  text: string,
  start: number,
): { ok: true; ref: StepRef; end: number } | { ok: false; message: string } {
  const end = runEnd(text, start, REF_CHAR);
  const parsed = parseRef(text.slice(start, end));
  return parsed.ok ? { ok: true, ref: parsed.ref, end } : parsed;
}

/** `a number`, `an array`, `null`: how messages name the type of a JSON value. */
function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function withArticle(type: string): string {
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

// ---------------------------------------------------------------------------
// Templates

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

// ---------------------------------------------------------------------------
// Conditions: tokens

type Scalar = string | number | boolean | null;
type Punct = 'and' | 'or' | 'not' | '(' | ')' | '{{' | '}}' | CompareOp;
type Span = { start: number; end: number };

type Token = Span &
  (
    | { kind: 'punct'; punct: Punct }
    | { kind: 'literal'; value: Scalar }
    | { kind: 'ref'; ref: StepRef }
    | { kind: 'end' }
  );

/** Thrown only inside this module; parseCondition and evaluateCondition turn it into a result. */
class ExpressionFailure extends Error {
  constructor(
    readonly index: number,
    message: string,
  ) {
    super(message);
  }
}

/** Longest first, so that `<=` is not read as `<` then `=`. */
const PUNCTS: readonly [string, Punct][] = [
  ['&&', 'and'],
  ['||', 'or'],
  ['==', '=='],
  ['!=', '!='],
  ['<=', '<='],
  ['>=', '>='],
  ['{{', '{{'],
  ['}}', '}}'],
  ['<', '<'],
  ['>', '>'],
  ['!', 'not'],
  ['(', '('],
  [')', ')'],
];

/** Operators people bring from other languages, with what to write instead. */
const FOREIGN_OPERATORS: Readonly<Record<string, string>> = {
  '===': 'use ==',
  '!==': 'use !=',
  '=': 'use == to compare',
  '&': 'use and or &&',
  '|': 'use or or ||',
};

/** A Map, not an object: a word like `constructor` must not find anything. */
const VALUE_WORDS: ReadonlyMap<string, Scalar> = new Map<string, Scalar>([
  ['true', true],
  ['false', false],
  ['null', null],
]);
const ESCAPES: ReadonlyMap<string, string> = new Map([
  ['\\', '\\'],
  ['"', '"'],
  ["'", "'"],
  ['n', '\n'],
  ['t', '\t'],
]);
const NUMBER = /-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

/** Shortens quoted source so that a message stays readable whatever the input. */
function clip(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The "thing" that starts at `start`, for naming it in a message: `process.exit(1)`. */
function snippetAt(text: string, start: number): string {
  const end = runEnd(text, start, /[^\s=!<>&|]/);
  let depth = 0;
  for (let i = start; i < end; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')' && --depth < 0) return clip(text.slice(start, i));
  }
  return clip(text.slice(start, end));
}

function scanString(text: string, start: number): Token {
  const quote = text[start];
  let value = '';
  for (let i = start + 1; i < text.length; i++) {
    const char = text[i];
    if (char === quote) return { kind: 'literal', value, start, end: i + 1 };
    if (char !== '\\') {
      value += char;
      continue;
    }
    if (i + 1 >= text.length) break;
    const escaped = ESCAPES.get(text[i + 1]);
    if (escaped === undefined) {
      const bad = `\\${text[i + 1]}`;
      throw new ExpressionFailure(i, `unknown escape ${bad} (use \\\\, \\", \\', \\n or \\t)`);
    }
    value += escaped;
    i++;
  }
  throw new ExpressionFailure(start, `unterminated string: expected a closing ${quote}`);
}

function scanNumber(text: string, start: number): Token {
  NUMBER.lastIndex = start;
  const digits = NUMBER.exec(text)?.[0] ?? '';
  const end = start + digits.length;
  if (/[A-Za-z0-9_.]/.test(text[end] ?? '')) {
    throw new ExpressionFailure(start, `${JSON.stringify(snippetAt(text, start))} is not a number`);
  }
  const value = Number(digits);
  if (!Number.isFinite(value)) throw new ExpressionFailure(start, `${digits} is too large`);
  return { kind: 'literal', value, start, end };
}

/** A keyword, a literal word or a reference; any other word is an error naming it. */
function scanWord(text: string, start: number): Token {
  const end = runEnd(text, start, /[A-Za-z0-9_]/);
  const word = text.slice(start, end);
  if (word === 'steps') {
    const read = refAt(text, start);
    if (!read.ok) throw new ExpressionFailure(start, read.message);
    return { kind: 'ref', ref: read.ref, start, end: read.end };
  }
  if (word === 'and' || word === 'or' || word === 'not') {
    return { kind: 'punct', punct: word, start, end };
  }
  const value = VALUE_WORDS.get(word);
  if (value !== undefined) return { kind: 'literal', value, start, end };
  const lower = word.toLowerCase();
  const hint = ['and', 'or', 'not'].includes(lower)
    ? 'use and, or, not'
    : ['true', 'false', 'null'].includes(lower) && 'use true, false, null';
  if (hint) throw new ExpressionFailure(start, `unknown word ${JSON.stringify(word)} (${hint})`);
  const thing = JSON.stringify(snippetAt(text, start));
  throw new ExpressionFailure(start, `${thing} is not a reference or a value`);
}

function scanPunct(text: string, start: number): Token {
  const foreign = ['===', '!=='].find((op) => text.startsWith(op, start));
  if (!foreign) {
    const punct = PUNCTS.find(([written]) => text.startsWith(written, start));
    if (punct) return { kind: 'punct', punct: punct[1], start, end: start + punct[0].length };
  }
  // Only the doubled `&&`, `||` and `==` are operators; a single one gets a hint.
  const written = foreign ?? text[start];
  if (Object.hasOwn(FOREIGN_OPERATORS, written)) {
    const hint = FOREIGN_OPERATORS[written];
    throw new ExpressionFailure(start, `unknown operator ${JSON.stringify(written)} (${hint})`);
  }
  throw new ExpressionFailure(start, `unexpected character ${JSON.stringify(written)}`);
}

function scanAt(text: string, start: number): Token {
  const char = text[start];
  if (char === '"' || char === "'") return scanString(text, start);
  if (/[0-9]/.test(char) || (char === '-' && /[0-9]/.test(text[start + 1] ?? ''))) {
    return scanNumber(text, start);
  }
  if (/[A-Za-z_]/.test(char)) return scanWord(text, start);
  return scanPunct(text, start);
}

// ---------------------------------------------------------------------------
// Conditions: parser

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

/** A condition's syntax tree; `start` and `end` delimit each node's source text. */
export type ConditionNode = Span &
  (
    | { type: 'literal'; value: Scalar }
    | { type: 'ref'; ref: StepRef }
    | { type: 'not'; operand: ConditionNode }
    | { type: 'and' | 'or'; left: ConditionNode; right: ConditionNode }
    | { type: 'compare'; op: CompareOp; left: ConditionNode; right: ConditionNode }
  );

/** A parsed `when:`: its tree, the text it came from, and the references it makes. */
export interface Condition {
  readonly source: string;
  readonly ast: ConditionNode;
  readonly refs: readonly StepRef[];
}

/** Reading position with one token of lookahead; tokens are scanned on demand. */
interface Parser {
  readonly text: string;
  readonly refs: StepRef[];
  pos: number;
  count: number;
  next?: Token;
  last?: Token;
}

const COMPARE_OPS: readonly Punct[] = ['==', '!=', '<', '<=', '>', '>='];

function tooLong(text: string): ExpressionFailure {
  const { length } = CONDITION_LIMITS;
  return new ExpressionFailure(
    length,
    `the condition is longer than ${length} characters (${text.length})`,
  );
}

/**
 * The next token, checking the limits as it goes: errors come in reading order, so
 * 10,000 opening parentheses fail on depth at the 33rd, long before the length limit.
 */
function scan(p: Parser): Token {
  const start = runEnd(p.text, p.pos, /\s/);
  const { length, tokens } = CONDITION_LIMITS;
  if (start >= p.text.length) {
    if (p.text.length > length) throw tooLong(p.text);
    return { kind: 'end', start, end: start };
  }
  if (start >= length) throw tooLong(p.text);
  const token = scanAt(p.text, start);
  if (token.end > length) throw tooLong(p.text);
  if (++p.count > tokens) throw new ExpressionFailure(start, `more than ${tokens} tokens`);
  return token;
}

function peek(p: Parser): Token {
  p.next ??= scan(p);
  return p.next;
}

function take(p: Parser): Token {
  const token = peek(p);
  p.next = undefined;
  p.pos = token.end;
  p.last = token;
  return token;
}

function isPunct(token: Token, punct: Punct): boolean {
  return token.kind === 'punct' && token.punct === punct;
}

function compareOpOf(token: Token): CompareOp | undefined {
  if (token.kind !== 'punct' || !COMPARE_OPS.includes(token.punct)) return undefined;
  return token.punct as CompareOp;
}

function describeToken(p: Parser, token: Token): string {
  if (token.kind === 'end') return 'end of expression';
  return JSON.stringify(clip(p.text.slice(token.start, token.end)));
}

/** Counts one more level of parentheses or `not`; the cap bounds the parser's recursion. */
function nest(token: Token, depth: number): number {
  const max = CONDITION_LIMITS.depth;
  if (depth > max) {
    throw new ExpressionFailure(token.start, `nested deeper than ${max} (parentheses and not)`);
  }
  return depth;
}

/** `or` over `and` chains, or `and` over `not`s; a loop, so long chains use no stack. */
function parseChain(p: Parser, depth: number, op: 'or' | 'and'): ConditionNode {
  const operand = () => (op === 'or' ? parseChain(p, depth, 'and') : parseNot(p, depth));
  let left = operand();
  while (isPunct(peek(p), op)) {
    take(p);
    const right = operand();
    left = { type: op, left, right, start: left.start, end: right.end };
  }
  return left;
}

function parseNot(p: Parser, depth: number): ConditionNode {
  const token = peek(p);
  if (!isPunct(token, 'not')) return parseComparison(p, depth);
  take(p);
  const operand = parseNot(p, nest(token, depth + 1));
  return { type: 'not', operand, start: token.start, end: operand.end };
}

function parseComparison(p: Parser, depth: number): ConditionNode {
  const left = parseOperand(p, depth);
  const op = compareOpOf(peek(p));
  if (!op) return left;
  take(p);
  const right = parseOperand(p, depth);
  const again = peek(p);
  if (compareOpOf(again)) {
    throw new ExpressionFailure(again.start, 'comparisons cannot be chained: join them with and');
  }
  return { type: 'compare', op, left, right, start: left.start, end: right.end };
}

function parseOperand(p: Parser, depth: number): ConditionNode {
  const before = p.last;
  const token = take(p);
  const node = operandNode(p, token, depth);
  if (!node) {
    const after = before ? ` after ${describeToken(p, before)}` : '';
    const message = `expected an operand${after}, found ${describeToken(p, token)}`;
    throw new ExpressionFailure(token.start, message);
  }
  const next = peek(p);
  if (isPunct(next, '(')) {
    const callee = JSON.stringify(clip(p.text.slice(node.start, node.end)));
    throw new ExpressionFailure(
      next.start,
      `${callee} is not a function: conditions have no calls`,
    );
  }
  return node;
}

function operandNode(p: Parser, token: Token, depth: number): ConditionNode | undefined {
  const span = { start: token.start, end: token.end };
  switch (token.kind) {
    case 'literal':
      return { type: 'literal', value: token.value, ...span };
    case 'ref':
      p.refs.push(token.ref);
      return { type: 'ref', ref: token.ref, ...span };
    case 'punct':
      if (token.punct === '(') return parseParenthesized(p, token, depth);
      if (token.punct === '{{') return parseBraced(p, token);
      return undefined;
    case 'end':
      return undefined;
  }
}

function parseParenthesized(p: Parser, open: Token, depth: number): ConditionNode {
  const inner = parseChain(p, nest(open, depth + 1), 'or');
  const close = take(p);
  if (!isPunct(close, ')')) {
    const found = describeToken(p, close);
    const message = `expected ")" to close the "(" at ${open.start}, found ${found}`;
    throw new ExpressionFailure(close.start, message);
  }
  return { ...inner, start: open.start, end: close.end };
}

/** The older `{{ steps.lint.output.count }} > 0` form: a reference in braces. */
function parseBraced(p: Parser, open: Token): ConditionNode {
  const inside = take(p);
  if (inside.kind !== 'ref') {
    const message = `expected a reference after "{{", found ${describeToken(p, inside)}`;
    throw new ExpressionFailure(inside.start, message);
  }
  const close = take(p);
  if (!isPunct(close, '}}')) {
    const message = `expected "}}" after ${describeRef(inside.ref)}, found ${describeToken(p, close)}`;
    throw new ExpressionFailure(close.start, message);
  }
  p.refs.push(inside.ref);
  return { type: 'ref', ref: inside.ref, start: open.start, end: close.end };
}

function trailingMessage(p: Parser, token: Token): string {
  if (isPunct(token, ')')) return 'unmatched ")"';
  return `expected and, or, a comparison or the end, found ${describeToken(p, token)}`;
}

/** Parses a `when:` condition; errors give the index and what was expected there. */
export function parseCondition(text: string): { ok: true; condition: Condition } | ParseFailure {
  const parser: Parser = { text, refs: [], pos: 0, count: 0 };
  try {
    const ast = parseChain(parser, 0, 'or');
    const rest = peek(parser);
    if (rest.kind !== 'end') throw new ExpressionFailure(rest.start, trailingMessage(parser, rest));
    return { ok: true, condition: { source: text, ast, refs: parser.refs } };
  } catch (error) {
    if (!(error instanceof ExpressionFailure)) throw error;
    return { ok: false, index: error.index, message: error.message };
  }
}

/** The references a condition makes, in order, or why it does not parse. */
export function conditionRefs(text: string): { ok: true; refs: StepRef[] } | ParseFailure {
  const parsed = parseCondition(text);
  return parsed.ok ? { ok: true, refs: [...parsed.condition.refs] } : parsed;
}

// ---------------------------------------------------------------------------
// Conditions: evaluation

type Evaluation = { readonly source: string; readonly facts: StepFacts };

function sourceOf(node: ConditionNode, e: Evaluation): string {
  return clip(e.source.slice(node.start, node.end));
}

function valueOf(node: ConditionNode, e: Evaluation): unknown {
  switch (node.type) {
    case 'literal':
      return node.value;
    case 'ref': {
      const resolved = resolveRef(node.ref, e.facts);
      if (!resolved.ok) throw new ExpressionFailure(node.start, resolved.message);
      return resolved.value;
    }
    case 'not':
      return !truthOf(node.operand, e);
    // `&&` and `||` short-circuit: the right side is not resolved when it cannot matter.
    case 'and':
      return truthOf(node.left, e) && truthOf(node.right, e);
    case 'or':
      return truthOf(node.left, e) || truthOf(node.right, e);
    case 'compare':
      return compare(node.op, valueOf(node.left, e), valueOf(node.right, e), sourceOf(node, e));
  }
}

/** A node's value when it must be a boolean: there is no truthiness. */
function truthOf(node: ConditionNode, e: Evaluation): boolean {
  const value = valueOf(node, e);
  if (typeof value === 'boolean') return value;
  const what = withArticle(typeName(value));
  throw new ExpressionFailure(
    node.start,
    `${JSON.stringify(sourceOf(node, e))} is ${what}, not true or false`,
  );
}

/** Strict equality of JSON values; arrays and objects are equal when their JSON text is. */
function jsonEqual(left: unknown, right: unknown): boolean {
  if (typeof left === 'object' && typeof right === 'object' && left !== null && right !== null) {
    return JSON.stringify(left) === JSON.stringify(right);
  }
  return left === right;
}

/** -1, 0 or 1; only numbers with numbers and strings with strings have an order. */
function orderOf(left: unknown, right: unknown): number | undefined {
  const numbers = typeof left === 'number' && typeof right === 'number';
  const strings = typeof left === 'string' && typeof right === 'string';
  if (!numbers && !strings) return undefined;
  return left < right ? -1 : left > right ? 1 : 0;
}

function compare(op: CompareOp, left: unknown, right: unknown, source: string): boolean {
  if (op === '==') return jsonEqual(left, right);
  if (op === '!=') return !jsonEqual(left, right);
  const order = orderOf(left, right);
  if (order === undefined) {
    const types = `${typeName(left)} with ${typeName(right)}`;
    throw new ExpressionFailure(0, `cannot compare ${types} in ${source}`);
  }
  switch (op) {
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
  }
}

/** Decides a parsed condition over the facts of finished steps. */
export function evaluateCondition(
  condition: Condition,
  facts: StepFacts,
): { ok: true; value: boolean } | EvaluationFailure {
  try {
    return { ok: true, value: truthOf(condition.ast, { source: condition.source, facts }) };
  } catch (error) {
    if (!(error instanceof ExpressionFailure)) throw error;
    return { ok: false, message: error.message };
  }
}
