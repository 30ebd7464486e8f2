// Judges each answer against its case's expectation, tallies per endpoint and class,
// and prints the table (or JSON).
import type { Case, InputClass, Outcome } from './types';

export interface Tally {
  sent: number;
  s2xx: number;
  s4xx: number;
  s5xx: number;
  /** No answer: timeouts, resets, connections closed without a status. */
  failures: number;
  /** Invalid by construction, answered with something else than a 4xx. */
  invalidNon4xx: number;
  /** Valid, answered other than expected; or a 4xx other than the one named (or not naming the field). */
  mismatches: number;
}

export interface Problem {
  endpoint: string;
  cls: InputClass;
  what: string;
  expected: string;
  got: string;
}

const empty = (): Tally => ({
  sent: 0,
  s2xx: 0,
  s4xx: 0,
  s5xx: 0,
  failures: 0,
  invalidNon4xx: 0,
  mismatches: 0,
});

export class Recorder {
  readonly endpoints = new Map<string, Tally>();
  readonly classes = new Map<InputClass, Tally>();
  readonly problems: Problem[] = [];

  /** Judges `outcome` for `c`; returns the problem, if any. */
  record(c: Case, outcome: Outcome): Problem | undefined {
    const tallies = [this.tally(this.endpoints, c.endpoint), this.tally(this.classes, c.cls)];
    const problem = judge(c, outcome);
    for (const t of tallies) {
      t.sent += 1;
      if ('failure' in outcome) t.failures += 1;
      else if (outcome.status >= 500) t.s5xx += 1;
      else if (outcome.status >= 400) t.s4xx += 1;
      else if (outcome.status >= 200 && outcome.status < 300) t.s2xx += 1;
      if (problem?.kind === 'invalidNon4xx') t.invalidNon4xx += 1;
      if (problem?.kind === 'mismatches') t.mismatches += 1;
    }
    if (!problem) return undefined;
    const entry = {
      endpoint: c.endpoint,
      cls: c.cls,
      what: c.what,
      expected: describe(c),
      got: problem.got,
    };
    this.problems.push(entry);
    return entry;
  }

  /** A check of a scripted case beyond its status (the same ticket twice, say). */
  fail(c: Case, got: string): void {
    this.tally(this.endpoints, c.endpoint).mismatches += 1;
    this.tally(this.classes, c.cls).mismatches += 1;
    this.problems.push({
      endpoint: c.endpoint,
      cls: c.cls,
      what: c.what,
      expected: describe(c),
      got,
    });
  }

  totals(): Tally {
    const total = empty();
    for (const t of this.endpoints.values()) {
      for (const key of Object.keys(total) as (keyof Tally)[]) total[key] += t[key];
    }
    return total;
  }

  private tally<K>(map: Map<K, Tally>, key: K): Tally {
    let t = map.get(key);
    if (!t) map.set(key, (t = empty()));
    return t;
  }
}

function describe(c: Case): string {
  const e = c.expect;
  if (e.kind === 'valid') return e.statuses.join(' or ');
  return `${e.statuses?.join(' or ') ?? '4xx'}${e.field ? ` naming ${e.field}` : ''}`;
}

function judge(c: Case, outcome: Outcome): { kind: keyof Tally; got: string } | undefined {
  if ('failure' in outcome) return { kind: 'failures', got: outcome.failure };
  const { status, body } = outcome;
  const got = `${status} ${body.slice(0, 200)}`;
  const e = c.expect;
  if (e.kind === 'valid')
    return e.statuses.includes(status)
      ? undefined
      : { kind: status >= 500 ? 's5xx' : 'mismatches', got };
  if (status < 400 || status >= 500) return { kind: 'invalidNon4xx', got };
  if (e.statuses && !e.statuses.includes(status)) return { kind: 'mismatches', got };
  if (e.field && !namesField(body, e.field)) return { kind: 'mismatches', got };
  return undefined;
}

/**
 * Whether an error answer's details name `field`. Read from the text: a long answer
 * (a 10,000-task cycle, named in full) is kept only in part.
 */
function namesField(body: string, field: string): boolean {
  const quoted = JSON.stringify(field).slice(1, -1);
  return [...body.matchAll(/"path":"((?:[^"\\]|\\.)*)"/g)].some((m) => m[1].includes(quoted));
}

const COLUMNS: [keyof Tally, string][] = [
  ['sent', 'sent'],
  ['s2xx', '2xx'],
  ['s4xx', '4xx'],
  ['s5xx', '5xx'],
  ['failures', 'failures'],
  ['invalidNon4xx', 'invalid!4xx'],
  ['mismatches', 'mismatch'],
];

/** The table: one row per endpoint, then the totals, then the classes. */
export function table(recorder: Recorder): string {
  const rows: [string, Tally][] = [...recorder.endpoints.entries()].sort(
    ([a], [b]) => a.split(' ')[1].localeCompare(b.split(' ')[1]) || a.localeCompare(b),
  );
  const width = Math.max(...rows.map(([name]) => name.length), 'endpoint'.length);
  const line = (name: string, t: Tally | undefined) =>
    name.padEnd(width) +
    COLUMNS.map(([key, head]) =>
      String(t ? t[key] : head).padStart(Math.max(head.length, 6) + 2),
    ).join('');
  const out = [line('endpoint', undefined), ...rows.map(([n, t]) => line(n, t))];
  out.push('-'.repeat(out[0].length), line('total', recorder.totals()), '', 'input classes:');
  const classes = [...recorder.classes.entries()].sort(([, a], [, b]) => b.sent - a.sent);
  for (const [cls, t] of classes) {
    const bad = t.s5xx + t.failures + t.invalidNon4xx + t.mismatches;
    out.push(
      `  ${cls.padEnd(20)} ${String(t.sent).padStart(6)}${bad ? `  (${bad} problems)` : ''}`,
    );
  }
  return out.join('\n');
}
