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

// A JSON string or scalar at the start (sticky), without backtracking per character.
const JSON_LITERAL =
  // eslint-disable-next-line no-control-regex
  /"(?:[^"\\\x00-\x1f]+|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y;

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
      JSON_LITERAL.lastIndex = i;
      if ((want === 'key' && c !== '"') || !JSON_LITERAL.test(text)) return i;
      [want, i] = [want === 'key' ? 'colon' : 'comma', JSON_LITERAL.lastIndex];
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
      JSON_LITERAL.lastIndex = i;
      if (!JSON_LITERAL.test(text)) return undefined;
      if (wantKey && top >= 0) {
        const key = JSON.parse(text.slice(i, JSON_LITERAL.lastIndex)) as string;
        const first = seenAt(keys, firstAt, top, key, i);
        path[top] = key;
        if (first !== undefined) {
          const message = `duplicate key ${quote(key)} (first on line ${positionIn(text, first).line})`;
          return issue(path, message, positionIn(text, i));
        }
        wantKey = false;
      }
      i = JSON_LITERAL.lastIndex;
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
