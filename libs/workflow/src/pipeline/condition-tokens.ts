/**
 * The tokenizer for `when:` conditions: hand-written (never eval or Function), it
 * reads one token at a time from a given index, and fails with the index and what
 * was wrong there. The parser in `conditions.ts` asks it for tokens on demand.
 */

import { refAt, runEnd, type StepRef } from './refs';

export type CompareOp = '==' | '!=' | '<' | '<=' | '>' | '>=';

export type Scalar = string | number | boolean | null;
export type Punct = 'and' | 'or' | 'not' | '(' | ')' | '{{' | '}}' | CompareOp;
export type Span = { start: number; end: number };

/** One token and the source text it spans. */
export type Token = Span &
  (
    | { kind: 'punct'; punct: Punct }
    | { kind: 'literal'; value: Scalar }
    | { kind: 'ref'; ref: StepRef }
    | { kind: 'end' }
  );

/**
 * Thrown only inside the condition modules (tokens, parser, evaluation);
 * parseCondition and evaluateCondition turn it into a result.
 */
export class ExpressionFailure extends Error {
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
export function clip(text: string): string {
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

/** The token that starts at `start` (a non-blank character). */
export function scanAt(text: string, start: number): Token {
  const char = text[start];
  if (char === '"' || char === "'") return scanString(text, start);
  if (/[0-9]/.test(char) || (char === '-' && /[0-9]/.test(text[start + 1] ?? ''))) {
    return scanNumber(text, start);
  }
  if (/[A-Za-z_]/.test(char)) return scanWord(text, start);
  return scanPunct(text, start);
}
