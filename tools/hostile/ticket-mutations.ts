// Invalid tickets made from valid ones, one defect each, with the answer each must get.
import fc from 'fast-check';
import type { JsonSchema } from './openapi';
import {
  copy,
  isObject,
  pathText,
  positions,
  put,
  withAt,
  wrongTypes,
  type Path,
  type Position,
} from './schema-arbitrary';
import { FIELD_KINDS, nopTask, validTicket, type FieldKind } from './ticket-arbitrary';
import { invalid, valid, type Expect, type InputClass, type Json, type JsonObject } from './types';

/** A body for POST /tickets and what it must get. */
export interface BodyCase {
  cls: InputClass;
  what: string;
  body: Json | Buffer;
  expect: Expect;
  /** Sent as the Content-Type: application/json when undefined, no header when null. */
  contentType?: string | null;
}

type Mutator = (ticket: JsonObject, root: JsonSchema, pick: number) => BodyCase;

/** Picks one of `items` by a generated index. */
export function choose<T>(items: readonly T[], pick: number): T {
  if (!items.length) throw new Error('nothing to choose from');
  return items[pick % items.length];
}

const body422 = (field: string) => invalid([422], field);
const where = (p: Position | Path) => pathText(Array.isArray(p) ? p : p.path);

/** The field a position belongs to (`env` for a variable, the array's name for an item). */
export function fieldOf(path: Path): string {
  const names = path.filter((p): p is string => typeof p === 'string');
  const last = names[names.length - 1] ?? '';
  return names[names.length - 2] === 'env' ? 'env' : last;
}

const kindOf = (p: Position): FieldKind => FIELD_KINDS[fieldOf(p.path)] ?? 'ident';
const strings = (ps: Position[]) => ps.filter((p) => typeof p.value === 'string' && p.path.length);

const wrongType: Mutator = (ticket, root, pick) => {
  const targets = positions(ticket, root).slice(1);
  const target = choose(targets, pick);
  const value = choose(wrongTypes(target.schema), pick >> 4);
  return {
    cls: 'wrong-type',
    what: `${where(target)} = ${JSON.stringify(value)}`,
    body: withAt(ticket, target.path, value),
    expect: body422(where(target)),
  };
};

/** Agent-required fields, and the fields a repository is required for. */
function semanticRequired(ticket: JsonObject): { path: Path; field: string }[] {
  const tasks = Array.isArray(ticket.tasks) ? ticket.tasks : [];
  return tasks.flatMap((task, i) => {
    if (!isObject(task)) return [];
    const agent = typeof task.agent === 'string' ? task.agent : 'command';
    const needed = agent === 'command' ? 'steps' : agent === 'oracle' ? 'solution' : 'prompt';
    const out = agent === 'nop' ? [] : [{ path: ['tasks', i, needed], field: `tasks[${i}]` }];
    const needsRepo = ['clone_branch', 'push_branch', 'allowed_paths', 'context_files'];
    if (task.repo !== undefined && needsRepo.some((f) => f in task))
      out.push({ path: ['tasks', i, 'repo'], field: `tasks[${i}]` });
    return out;
  });
}

const missingRequired: Mutator = (ticket, root, pick) => {
  const declared = positions(ticket, root)
    .filter((p) => isObject(p.value) && p.schema.required)
    .flatMap((p) =>
      (p.schema.required ?? []).map((name) => ({ path: [...p.path, name], field: '' })),
    );
  const targets = [...declared, ...semanticRequired(ticket), { path: ['tasks'], field: 'tasks' }];
  const target = choose(targets, pick);
  const emptyTasks = target.path.length === 1 && target.path[0] === 'tasks' && pick % 2 === 0;
  return {
    cls: 'missing-required',
    what: emptyTasks ? 'tasks = []' : `without ${where(target.path)}`,
    body: withAt(ticket, target.path, emptyTasks ? [] : undefined),
    expect: body422(target.field || where(target.path)),
  };
};

const STRANGE_KEYS = ['owner', 'toString', 'valueOf', 'hasOwnProperty', 'isAdmin', 'id', 'status'];
const ODD_KEYS = ['', ' title', 'Title', 'ke\u0000y', '$where', 'a.b', 'a[0]', '0', 'tasks_'];

const unknownField: Mutator = (ticket, root, pick) => {
  const strict = positions(ticket, root).filter(
    (p) => isObject(p.value) && p.schema.additionalProperties === false,
  );
  const target = choose(strict, pick);
  const key = choose([...STRANGE_KEYS, ...ODD_KEYS], pick >> 4);
  return {
    cls: 'unknown-field',
    what: `${where(target) || '(root)'} + ${JSON.stringify(key)}`,
    body: withAt(ticket, [...target.path, key], choose(['x', 1, true, null, {}, []], pick >> 8)),
    expect: STRANGE_KEYS.includes(key) ? body422(key) : invalid([422]),
  };
};

const PROTO_KEYS = ['__proto__', 'constructor', 'prototype'];
const PROTO_VALUES: Json[] = [{ polluted: true }, { title: 'x', tasks: [] }, 'x', [], null];

const protoKeys: Mutator = (ticket, root, pick) => {
  const key = choose(PROTO_KEYS, pick);
  const value = choose(PROTO_VALUES, pick >> 2);
  const all = positions(ticket, root);
  const strict = all.filter((p) => isObject(p.value) && p.schema.additionalProperties === false);
  const tasks = all.filter((p) => p.path.length === 2 && p.path[0] === 'tasks');
  if ((pick >> 6) % 3 === 0) {
    // Into a task's variables: a variable named `constructor` is a variable; `__proto__` is refused.
    const task = choose(tasks, pick >> 8);
    const env = isObject(task.value) && isObject(task.value.env) ? copy(task.value.env) : {};
    const text = typeof value === 'string';
    put(env, key, value);
    return {
      cls: 'proto-keys',
      what: `${where(task)}.env.${key} = ${JSON.stringify(value)}`,
      body: withAt(ticket, [...task.path, 'env'], env),
      expect: key === '__proto__' ? body422('__proto__') : text ? valid(201) : body422(key),
    };
  }
  const target = choose(strict, pick >> 8);
  const nested = (pick >> 10) % 2 === 0;
  const payload = nested ? withProto({ [key]: value }) : value;
  return {
    cls: 'proto-keys',
    what: `${where(target) || '(root)'}.${key}${nested ? '.__proto__' : ''} = ${JSON.stringify(value)}`,
    body: withAt(ticket, [...target.path, key], payload),
    expect: invalid([422]),
  };
};

/** `value` with an own `__proto__` holding a copy of it. */
function withProto(value: JsonObject): JsonObject {
  const out = copy(value);
  put(out, '__proto__', copy(value));
  return out;
}

/** The limit of a string field the document leaves unbounded (git refs). */
const LIMIT_OF_REFS = 1024;

/** A string's maxLength, or that of the string among alternatives (`env`: text or a secret). */
function stringLimit(schema: JsonSchema): number {
  const text = schema.anyOf?.find((s) => s.type === 'string');
  return schema.maxLength ?? text?.maxLength ?? LIMIT_OF_REFS;
}

const hugeString: Mutator = (ticket, root, pick) => {
  const target = choose(strings(positions(ticket, root)), pick);
  // Lengths are in code points, as the schema's maxLength and the contract count them.
  const max = stringLimit(target.schema);
  const length = choose([max + 1, max + 1000, 300_000, 1_048_576], pick >> 6);
  const unit = choose(['a', 'é', '😀', ' ', '-'], pick >> 8);
  const value = unit.repeat(length);
  return {
    cls: 'huge-string',
    what: `${where(target)} = ${length} times ${JSON.stringify(unit)}`,
    body: withAt(ticket, target.path, value),
    expect: body422(where(target)),
  };
};

/** A small valid item for each array the document bounds. */
const FILLERS: Record<string, (i: number) => Json> = {
  tasks: (i) => nopTask(`filler-${i}`),
  steps: () => ({ run: 'true' }),
  acceptance_commands: () => 'true',
  allowed_paths: () => 'src/**',
  forbidden_paths: () => 'secrets/**',
  context_files: () => 'README.md',
  retry_on: () => 'INFRA',
};

const hugeArray: Mutator = (ticket, root, pick) => {
  const arrays = positions(ticket, root).filter(
    (p) => Array.isArray(p.value) && p.schema.maxItems !== undefined,
  );
  const target = choose(arrays, pick);
  const name = fieldOf(target.path);
  const max = target.schema.maxItems ?? 0;
  const count = max + choose([1, 2, 100], pick >> 6);
  const first = Array.isArray(target.value) ? target.value[0] : undefined;
  const filler = FILLERS[name] ?? (() => first ?? 'x');
  return {
    cls: 'huge-array',
    what: `${where(target)} with ${count} items (at most ${max})`,
    body: withAt(
      ticket,
      target.path,
      Array.from({ length: count }, (_, i) => filler(i)),
    ),
    expect: body422(where(target)),
  };
};

const wideArray: Mutator = (ticket, _root, pick) => {
  const count = choose([100_000, 10_000], pick);
  const shape = choose(['numbers in title', 'variables', 'unknown fields'], pick >> 2);
  const many = Object.fromEntries(Array.from({ length: count }, (_, i) => [`V${i}`, 'x']));
  const body =
    shape === 'numbers in title'
      ? { ...ticket, title: Array.from({ length: count }, (_, i) => i) }
      : shape === 'variables'
        ? withAt(ticket, ['tasks', 0, 'env'], many)
        : { ...ticket, ...many };
  return {
    cls: 'huge-array',
    what: `${count} ${shape}`,
    body,
    expect: shape === 'numbers in title' ? body422('title') : invalid([422]),
  };
};

/** Unpaired surrogates and NUL: refused in every field. */
const UNSTORABLE = ['\u0000', '\ud800', '\udfff'];
/** Refused by git fields and identifiers; accepted in free text and paths. */
const CONTROLS = ['\x01', '\x07', '\b', '\t', '\n', '\v', '\f', '\r', '\x1b', '\x1f', '\x7f'];
const SEPARATORS = ['\u2028', '\u2029', '\ufeff'];
/** Accepted by git fields too (not whitespace); refused by identifiers. */
const INVISIBLE = ['\x80', '\x9f', '\u200b', '\u202e'];

const controlChars: Mutator = (ticket, root, pick) => {
  const all = positions(ticket, root);
  const targets = strings(all);
  const names = all.filter((p) => p.inMap).map((p) => ({ ...p, name: true }));
  const target = choose([...targets, ...names.map((n) => ({ ...n, value: '' }))], pick);
  const renamesKey = 'name' in target;
  const kind: FieldKind = renamesKey ? 'ident' : kindOf(target);
  const pool =
    kind === 'git'
      ? [...UNSTORABLE, ...CONTROLS, ...SEPARATORS]
      : [...UNSTORABLE, ...CONTROLS, ...SEPARATORS, ...INVISIBLE];
  const char = choose(pool, pick >> 6);
  const field = renamesKey ? 'env' : where(target);
  let body: Json;
  let fits = true;
  if (renamesKey) {
    const key = String(target.path[target.path.length - 1]);
    const parent = target.path.slice(0, -1);
    body = withAt(withAt(ticket, target.path, undefined), [...parent, `${key}${char}`], 'x');
  } else {
    // By code point: a character put inside a surrogate pair would unpair it.
    const points = [...(typeof target.value === 'string' ? target.value : '')];
    points.splice((pick >> 10) % (points.length + 1), 0, char);
    const text = points.join('');
    fits = points.length <= (target.schema.maxLength ?? Infinity);
    body = withAt(ticket, target.path, text);
  }
  const accepted = fits && !UNSTORABLE.includes(char) && (kind === 'text' || kind === 'path');
  return {
    cls: 'control-chars',
    what: `${renamesKey ? 'variable name' : kind} ${field} + U+${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
    body,
    expect: accepted ? valid(201) : body422(field),
  };
};

/** Every structural mutator, by class. */
export const MUTATORS: { cls: InputClass; weight: number; mutate: Mutator }[] = [
  { cls: 'wrong-type', weight: 6, mutate: wrongType },
  { cls: 'missing-required', weight: 4, mutate: missingRequired },
  { cls: 'unknown-field', weight: 4, mutate: unknownField },
  { cls: 'proto-keys', weight: 5, mutate: protoKeys },
  { cls: 'huge-string', weight: 3, mutate: hugeString },
  { cls: 'huge-array', weight: 2, mutate: hugeArray },
  { cls: 'huge-array', weight: 1, mutate: wideArray },
  { cls: 'control-chars', weight: 8, mutate: controlChars },
];

/** Valid tickets, broken by one mutator each. */
export function mutatedTickets(root: JsonSchema): fc.Arbitrary<BodyCase> {
  return fc.oneof(
    ...MUTATORS.map(({ weight, mutate }) => ({
      weight,
      arbitrary: fc
        .tuple(validTicket(root), fc.nat())
        .map(([ticket, pick]) => mutate(ticket, root, pick)),
    })),
  );
}
