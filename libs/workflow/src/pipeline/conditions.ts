/**
 * `when:` conditions: a recursive-descent parser (never eval or Function) over the
 * tokens of `condition-tokens.ts`, with limits on length, depth and token count so
 * that a hostile condition costs little to reject.
 */

import {
  clip,
  ExpressionFailure,
  type CompareOp,
  type Punct,
  type Scalar,
  type Span,
  type Token,
  scanAt,
} from './condition-tokens';
import { describeRef, runEnd, type ParseFailure, type StepRef } from './refs';

/** Bounds on a condition, so that a hostile one costs little to reject. */
export const CONDITION_LIMITS = { length: 2_000, depth: 32, tokens: 500 } as const;

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
