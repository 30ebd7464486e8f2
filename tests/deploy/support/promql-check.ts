import type { SeriesDef } from './metric-catalog';

/**
 * A small PromQL reader for the queries Drover ships (dashboard, alerts): not a
 * full parser, but strict about what it reads. It tokenizes the expression, and
 * reports every series name that no service exposes, every label matched or
 * grouped on that the series does not carry, unknown functions, malformed range
 * brackets and unbalanced parentheses. (`promtool check rules` is the full
 * check of the alert file, where promtool is installed.)
 */

const FUNCTIONS = new Set([
  'abs',
  'absent',
  'avg',
  'avg_over_time',
  'ceil',
  'clamp_min',
  'clamp_max',
  'count',
  'count_over_time',
  'delta',
  'deriv',
  'floor',
  'histogram_quantile',
  'idelta',
  'increase',
  'irate',
  'label_replace',
  'max',
  'max_over_time',
  'min',
  'min_over_time',
  'predict_linear',
  'quantile',
  'rate',
  'resets',
  'round',
  'scalar',
  'sort',
  'sort_desc',
  'stddev',
  'sum',
  'sum_over_time',
  'time',
  'topk',
  'bottomk',
  'vector',
]);
const AGGREGATIONS = new Set([
  'sum',
  'min',
  'max',
  'avg',
  'count',
  'stddev',
  'topk',
  'bottomk',
  'quantile',
]);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset']);
/** Labels Prometheus adds to every scraped sample. */
export const TARGET_LABELS = new Set(['instance', 'job']);

const RANGE = /^(?:\d+[smhdwy]|\$__rate_interval|\$__interval|\$__range)(?::(?:\d+[smhdwy])?)?$/;
const DURATION = /^\d+[smhdwy]$/;

export interface QueryFacts {
  /** Series names selected. */
  series: string[];
  /** Labels grouped on (`by`, `on`, ...), which the result may carry. */
  grouping: string[];
  problems: string[];
}

type Token =
  | { kind: 'ident'; text: string }
  | { kind: 'string'; text: string }
  | { kind: 'number'; text: string }
  | { kind: 'range'; text: string }
  | { kind: 'punct'; text: string };

function tokenize(expr: string, problems: string[]): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < expr.length) {
    const rest = expr.slice(i);
    const space = /^\s+/.exec(rest);
    if (space) {
      i += space[0].length;
      continue;
    }
    const str = /^"(?:[^"\\]|\\.)*"|^'(?:[^'\\]|\\.)*'/.exec(rest);
    const num = /^\d+(?:\.\d+)?(?:e[+-]?\d+)?(?![a-zA-Z_])/.exec(rest);
    const ident = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(rest);
    const punct = /^(?:=~|!~|!=|==|>=|<=|[-+*/%^(){},=<>])/.exec(rest);
    if (rest[0] === '[') {
      const end = rest.indexOf(']');
      if (end < 0) {
        problems.push(`unclosed "[" at ${i}`);
        break;
      }
      const range = rest.slice(1, end).trim();
      if (!RANGE.test(range)) problems.push(`not a range or subquery: [${range}]`);
      tokens.push({ kind: 'range', text: range });
      i += end + 1;
    } else if (str) {
      tokens.push({ kind: 'string', text: str[0] });
      i += str[0].length;
    } else if (num) {
      tokens.push({ kind: 'number', text: num[0] });
      i += num[0].length;
    } else if (ident) {
      tokens.push({ kind: 'ident', text: ident[0] });
      i += ident[0].length;
    } else if (punct) {
      tokens.push({ kind: 'punct', text: punct[0] });
      i += punct[0].length;
    } else {
      problems.push(`unexpected ${JSON.stringify(rest[0])} at ${i}`);
      i += 1;
    }
  }
  return tokens;
}

/** Reads `( a, b )` from `at` (an opening parenthesis); the names and the index after it. */
function labelList(tokens: Token[], at: number, problems: string[]): [string[], number] {
  const names: string[] = [];
  if (tokens[at]?.text !== '(') {
    problems.push(`expected "(" after a grouping keyword`);
    return [names, at];
  }
  let i = at + 1;
  for (; i < tokens.length && tokens[i].text !== ')'; i++) {
    const token = tokens[i];
    if (token.kind === 'ident') names.push(token.text);
    else if (token.text !== ',') problems.push(`unexpected ${token.text} in a label list`);
  }
  return [names, i + 1];
}

/** Reads `{ a="x", b=~"y" }` from `at`; the label names and the index after it. */
function matchers(tokens: Token[], at: number, problems: string[]): [string[], number] {
  const names: string[] = [];
  let i = at + 1;
  while (i < tokens.length && tokens[i].text !== '}') {
    const [name, op, value] = [tokens[i], tokens[i + 1], tokens[i + 2]];
    if (
      name?.kind !== 'ident' ||
      !['=', '!=', '=~', '!~'].includes(op?.text ?? '') ||
      value?.kind !== 'string'
    ) {
      problems.push(`malformed label matcher near ${name?.text ?? 'the end'}`);
      return [names, tokens.length];
    }
    names.push(name.text);
    i += 3;
    if (tokens[i]?.text === ',') i += 1;
  }
  return [names, i + 1];
}

/** What an expression selects and groups on, and what is wrong with it. */
export function checkQuery(expr: string, known: ReadonlyMap<string, SeriesDef>): QueryFacts {
  const problems: string[] = [];
  const tokens = tokenize(expr, problems);
  const facts: QueryFacts = { series: [], grouping: [], problems };
  let depth = 0;
  for (let i = 0; i < tokens.length;) {
    const token = tokens[i];
    const next = tokens[i + 1];
    if (token.kind === 'punct' && (token.text === '(' || token.text === ')')) {
      depth += token.text === '(' ? 1 : -1;
      if (depth < 0) problems.push('unbalanced ")"');
      i += 1;
    } else if (token.kind === 'punct' && token.text === '{') {
      problems.push('a selector without a metric name');
      i = matchers(tokens, i, problems)[1];
    } else if (token.kind !== 'ident') {
      i += 1;
    } else if (GROUPING.has(token.text)) {
      const [names, after] = labelList(tokens, i + 1, problems);
      facts.grouping.push(...names);
      i = after;
    } else if (KEYWORDS.has(token.text)) {
      if (token.text === 'offset' && !(next && DURATION.test(next.text))) {
        problems.push('offset needs a duration');
      }
      i += token.text === 'offset' ? 2 : 1;
    } else if (
      next?.text === '(' ||
      (AGGREGATIONS.has(token.text) && (next?.text === 'by' || next?.text === 'without'))
    ) {
      if (!FUNCTIONS.has(token.text)) problems.push(`unknown function ${token.text}`);
      i += 1;
    } else {
      facts.series.push(token.text);
      const series = known.get(token.text);
      if (!series) problems.push(`no service exposes ${token.text}`);
      i += 1;
      if (tokens[i]?.text === '{') {
        const [names, after] = matchers(tokens, i, problems);
        for (const name of names) {
          if (series && !series.labels.has(name) && !TARGET_LABELS.has(name)) {
            problems.push(`${token.text} has no label ${name}`);
          }
        }
        i = after;
      }
    }
  }
  if (depth !== 0) problems.push('unbalanced parentheses');
  if (!facts.series.length) problems.push('selects no series');
  // A grouping label must be one some selected series carries (or one Prometheus adds).
  for (const label of facts.grouping) {
    const carried = facts.series.some((name) => known.get(name)?.labels.has(label));
    if (!carried && !TARGET_LABELS.has(label)) {
      problems.push(`grouping on ${label}, which none of ${facts.series.join(', ')} carries`);
    }
  }
  // histogram_quantile needs the buckets, grouped by le.
  for (const [, inner] of expr.matchAll(/histogram_quantile\(\s*[\d.]+\s*,([^]*)/g)) {
    const bucket = /([a-z_:][a-z0-9_:]*_bucket)\b/.exec(inner);
    if (!bucket) problems.push('histogram_quantile over no _bucket series');
    if (!/\bby \([^)]*\ble\b/.test(inner)) problems.push('histogram_quantile not grouped by le');
  }
  return facts;
}
