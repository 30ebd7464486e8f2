import { issue, quote, type LocatedIssue, type Position, type Segment } from './located-issue';

/** JSON.parse's verdict: the yaml parser would also take YAML that is not JSON. */
export function jsonProblem(text: string): LocatedIssue | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    const position = /at position (\d+)/.exec(message);
    const offset = position ? Number(position[1]) : jsonErrorOffset(text);
    return issue('', `not valid JSON: ${message}`, positionIn(text, offset));
  }
}

// A JSON number, true, false or null at the start (sticky): no nested quantifier.
const JSON_SCALAR = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;
const HEX4 = /^[0-9a-fA-F]{4}$/;

/**
 * Where the JSON string or scalar that starts at `i` ends, or -1 when none does.
 * Strings are scanned in one pass by hand: a regular expression with a repeated
 * group backtracks exponentially on an unterminated string, and these scans run
 * on every request body before it is parsed.
 */
function literalEnd(text: string, i: number): number {
  if (text[i] !== '"') {
    JSON_SCALAR.lastIndex = i;
    return JSON_SCALAR.test(text) ? JSON_SCALAR.lastIndex : -1;
  }
  for (let j = i + 1; j < text.length;) {
    const code = text.charCodeAt(j);
    if (code === 0x22) return j + 1; // the closing quote
    if (code < 0x20) return -1; // a control character must be escaped
    if (code !== 0x5c) {
      j++;
      continue;
    }
    const next = text.charAt(j + 1);
    if (next !== '' && '"\\/bfnrt'.includes(next)) j += 2;
    else if (next === 'u' && HEX4.test(text.slice(j + 2, j + 6))) j += 6;
    else return -1;
  }
  return -1;
}

/**
 * Where JSON.parse gave up, for its messages that give no position (V8 says
 * "Unexpected token ']'" for a trailing comma). A scan of the grammar, no values.
 */
function jsonErrorOffset(text: string): number {
  const closers: string[] = [];
  let want: 'value' | 'key' | 'colon' | 'comma' = 'value';
  let empty = false; // just after "[" or "{": the closer may come at once
  for (let i = 0; ;) {
    while (' \t\n\r'.includes(text[i] ?? 'x')) i++;
    if (i >= text.length) return i;
    const c = text[i];
    if (empty && c === closers.at(-1)) {
      closers.pop();
      [want, i] = ['comma', i + 1];
    } else if (want === 'comma') {
      if (c === ',' && closers.length > 0) want = closers.at(-1) === '}' ? 'key' : 'value';
      else if (closers.length === 0 || c !== closers.pop()) return i;
      i++;
    } else if (want === 'colon') {
      if (c !== ':') return i;
      [want, i] = ['value', i + 1];
    } else if (want === 'value' && (c === '[' || c === '{')) {
      closers.push(c === '[' ? ']' : '}');
      [want, i, empty] = [c === '[' ? 'value' : 'key', i + 1, true];
      continue;
    } else {
      const end: number = want === 'key' && c !== '"' ? -1 : literalEnd(text, i);
      if (end < 0) return i;
      [want, i] = [want === 'key' ? 'colon' : 'comma', end];
    }
    empty = false;
  }
}

/**
 * The first key repeated within one object of `text`, where the repeat is, its
 * path naming it. JSON.parse keeps the last of such keys without a word, and a
 * reader in front of it may have kept the first: refused, as in YAML documents.
 * For text that is not JSON, undefined (JSON.parse says what is wrong).
 */
export function jsonDuplicateKey(text: string): LocatedIssue | undefined {
  // Per open object or array, in two flat arrays (a hostile body nests a million
  // levels deep): where in it the scan is, and an object's keys so far (its
  // first alone as a string; a Map of where each was from the second on).
  const path: Segment[] = [];
  const keys: (Map<string, number> | string | null | undefined)[] = [];
  const firstAt: number[] = [];
  let wantKey = false;
  for (let i = 0; i < text.length;) {
    const c = text[i];
    const top = path.length - 1;
    if (c === '{' || c === '[') {
      path.push(c === '{' ? '' : 0);
      keys.push(c === '{' ? undefined : null);
      firstAt.push(-1);
      wantKey = c === '{';
      i++;
    } else if (c === '}' || c === ']') {
      path.pop();
      keys.pop();
      firstAt.pop();
      i++;
    } else if (c === ',') {
      if (top >= 0 && keys[top] !== null) wantKey = true;
      else if (top >= 0) path[top] = Number(path[top]) + 1;
      i++;
    } else if (c === ':' || c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else {
      const end = literalEnd(text, i);
      if (end < 0) return undefined;
      if (wantKey && top >= 0) {
        const key = JSON.parse(text.slice(i, end)) as string;
        const first = seenAt(keys, firstAt, top, key, i);
        path[top] = key;
        if (first !== undefined) {
          const message = `duplicate key ${quote(key)} (first on line ${positionIn(text, first).line})`;
          return issue(path, message, positionIn(text, i));
        }
        wantKey = false;
      }
      i = end;
    }
  }
  return undefined;
}

/** Where object `at` had `key` already, or undefined after noting it at `offset`. */
function seenAt(
  keys: (Map<string, number> | string | null | undefined)[],
  firstAt: number[],
  at: number,
  key: string,
  offset: number,
): number | undefined {
  const held = keys[at];
  if (held === undefined) {
    [keys[at], firstAt[at]] = [key, offset];
    return undefined;
  }
  if (typeof held === 'string') {
    if (held === key) return firstAt[at];
    keys[at] = new Map([
      [held, firstAt[at]],
      [key, offset],
    ]);
    return undefined;
  }
  const first = held?.get(key);
  if (first === undefined) held?.set(key, offset);
  return first;
}

function positionIn(text: string, offset: number): Position {
  const before = text.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}
