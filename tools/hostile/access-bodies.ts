// Bodies of the JSON operations but POST /tickets (projects, keys, experiments, approvals,
// answers): valid ones, and invalid ones with one defect each (a wrong type, a missing
// or unknown field, a value out of range, fields a caller must never set itself), each
// refused with 422 naming the field, or 415 for a body not declared as JSON.
import fc from 'fast-check';
import { schemaAt, type JsonSchema, type Operation } from './openapi';
import { SWEEP } from './seed';
import { arbitraryFor, copy, put, wrongTypes } from './schema-arbitrary';
import {
  http,
  invalid,
  type Case,
  type Expect,
  type InputClass,
  type Json,
  type JsonObject,
} from './types';

function rootOf(op: Operation): JsonSchema {
  if (!op.body) throw new Error(`${op.key} has no body schema in the document`);
  return op.body;
}

/** A valid project: every field from the document (slug by its pattern, name, quotas). */
export function projectBody(op: Operation): fc.Arbitrary<JsonObject> {
  return arbitraryFor(rootOf(op)) as fc.Arbitrary<JsonObject>;
}

const DAY_S = 86_400;

/**
 * A time from a day to ten years ahead, as UTC or with an offset. A day at least: the
 * requests are generated before they are sent, and a past time is refused.
 */
const future = fc
  .tuple(fc.integer({ min: DAY_S, max: 3650 * DAY_S }), fc.boolean())
  .map(([seconds, utc]) => {
    const at = new Date(Date.now() + seconds * 1000);
    if (utc) return at.toISOString();
    const local = new Date(at.getTime() + 2 * 3_600_000).toISOString().slice(0, 19);
    return `${local}+02:00`;
  });

/** A valid key: name and role from the document; `expires_at`, when present, in the future. */
export function keyBody(op: Operation): fc.Arbitrary<JsonObject> {
  const root = rootOf(op);
  return fc.record(
    {
      name: arbitraryFor(schemaAt(root, 'name')),
      role: arbitraryFor(schemaAt(root, 'role')),
      expires_at: future,
    },
    { requiredKeys: ['name', 'role'] },
  );
}

interface AccessBodyCase {
  cls: InputClass;
  what: string;
  body: Json;
  expect: Expect;
  /** Sent as the Content-Type: application/json when undefined, no header when null. */
  contentType?: string | null;
}

const field422 = (field: string) => invalid([422], field);

/** Out-of-range values of each field, by name. */
const BAD_VALUES: Record<string, [InputClass, Json][]> = {
  slug: [
    ['control-chars', 'a\u0000b'],
    ['huge-string', 'a'.repeat(64)],
    ['wrong-type', 'Default'],
    ['path-injection', '../default'],
    ['wrong-type', '-leading-dash'],
    ['wrong-type', ''],
  ],
  name: [
    ['control-chars', 'a\u0000b'],
    ['control-chars', 'a\ud800b'],
    ['wrong-type', ''],
  ],
  role: [
    ['wrong-type', 'operator'],
    ['wrong-type', 'owner'],
    ['wrong-type', 'Admin'],
    ['wrong-type', 'admin '],
    ['wrong-type', ''],
  ],
  expires_at: [
    ['wrong-type', '2001-01-01T00:00:00Z'],
    ['wrong-type', '2099-01-01T00:00:00'],
    ['wrong-type', '2099-01-01'],
    ['wrong-type', 'tomorrow'],
    ['wrong-type', '2099-02-30T00:00:00Z'],
    ['numeric-overflow', '+275760-09-13T00:00:00Z'],
    ['wrong-type', '0000-01-01T00:00:00Z'],
  ],
  max_running_tasks: [
    ['numeric-overflow', -1],
    ['numeric-overflow', 1_000_001],
    ['numeric-overflow', 1.5],
    ['numeric-overflow', 1e300],
  ],
  max_tasks_per_hour: [
    ['numeric-overflow', -1],
    ['numeric-overflow', 2 ** 53],
    ['wrong-type', '10'],
  ],
  own_runners: [
    ['wrong-type', 'true'],
    ['wrong-type', 1],
    ['wrong-type', null],
  ],
};

/** Fields of a key or project the server alone sets: a caller naming one is refused. */
const SERVER_FIELDS = ['id', 'project_id', 'projectId', 'project', 'prefix', 'hash', 'key'];
const MORE_FIELDS = ['revoked_at', 'created_by', 'isAdmin', 'operator', 'toString'];

/** A defect for the body, or undefined when the body has nothing it applies to. */
type Mutation = (body: JsonObject, root: JsonSchema, pick: number) => AccessBodyCase | undefined;

const at = <T>(items: readonly T[], pick: number): T => items[pick % items.length];

const mutations: Mutation[] = [
  (body, root, pick) => {
    if (!Object.keys(body).length) return undefined;
    const name = at(Object.keys(body), pick);
    const value = at(wrongTypes(schemaAt(root, name)), pick >> 4);
    const b = copy(body);
    b[name] = value;
    return {
      cls: 'wrong-type',
      what: `${name} = ${JSON.stringify(value)}`,
      body: b,
      expect: field422(name),
    };
  },
  (body, root, pick) => {
    if (!root.required?.length) return undefined;
    const name = at(root.required, pick);
    const b = copy(body);
    delete b[name];
    return { cls: 'missing-required', what: `without ${name}`, body: b, expect: field422(name) };
  },
  (body, _root, pick) => {
    const name = at([...SERVER_FIELDS, ...MORE_FIELDS], pick);
    const b = copy(body);
    put(b, name, at(['00000000-0000-4000-8000-000000000001', 'admin', true, 'default'], pick >> 4));
    return { cls: 'unknown-field', what: `+ ${name}`, body: b, expect: field422(name) };
  },
  (body, _root, pick) => {
    const key = at(['__proto__', 'constructor', 'prototype'], pick);
    const b = copy(body);
    put(b, key, { role: 'admin', slug: 'default' });
    return { cls: 'proto-keys', what: `+ ${key}`, body: b, expect: invalid([422]) };
  },
  (body, root, pick) => {
    const names = Object.keys(root.properties ?? {}).filter((n) => BAD_VALUES[n]);
    if (!names.length) return undefined;
    const name = at(names, pick);
    const [cls, value] = at(BAD_VALUES[name], pick >> 4);
    const b = copy(body);
    b[name] = value;
    return {
      cls,
      what: `${name} = ${JSON.stringify(value).slice(0, 40)}`,
      body: b,
      expect: field422(name),
    };
  },
  (body, root, pick) => {
    const names = Object.entries(root.properties ?? {}).filter(([, s]) => s.maxLength);
    if (!names.length) return undefined;
    const [name, schema] = at(names, pick);
    const b = copy(body);
    b[name] = at(['x', 'é', '😀'], pick >> 4).repeat((schema.maxLength ?? 0) + 1);
    return {
      cls: 'huge-string',
      what: `${name} one character too long`,
      body: b,
      expect: field422(name),
    };
  },
  (body, _root, pick) => {
    const contentType = at([null, 'text/plain', 'application/x-www-form-urlencoded'], pick);
    return {
      cls: 'content-type',
      what: `a valid body as ${contentType ?? 'no content type'}`,
      body,
      expect: invalid([415]),
      contentType,
    };
  },
];

/** A case of `op` at `path` (on our project) from a body case. */
function toCase(op: Operation, path: string, b: AccessBodyCase): Case {
  const wire = http(op.method, path, b.body);
  if (wire.kind === 'http') {
    if (b.contentType === null) delete wire.request.headers['content-type'];
    else if (b.contentType !== undefined) wire.request.headers['content-type'] = b.contentType;
  }
  return { endpoint: op.key, cls: b.cls, what: b.what, wire, expect: b.expect };
}

/** Valid bodies of `op`, each with every field a defect can be put in. */
function validBodyOf(op: Operation): fc.Arbitrary<JsonObject> {
  const text = fc.string({ minLength: 1, maxLength: 40 }).filter((t) => t.trim() === t && !!t);
  switch (op.key) {
    case 'POST /projects':
      return projectBody(op);
    case 'POST /projects/{id}/keys':
      return keyBody(op);
    case 'POST /experiments':
      return fc.constant(SWEEP);
    case 'POST /tasks/{id}/approve':
    case 'POST /tasks/{id}/reject':
      return text.map((comment) => ({ comment }));
    case 'POST /tasks/{id}/input':
      return fc.record({ value: text, name: fc.constantFrom('TOKEN', 'CHANNEL') });
    default:
      throw new Error(`no valid body known for ${op.key}: add one to validBodyOf`);
  }
}

/** Invalid bodies for `op` sent to `path`, one defect each. */
export function mutatedAccessBodies(op: Operation, path: string): fc.Arbitrary<Case> {
  const root = rootOf(op);
  return fc
    .tuple(validBodyOf(op), fc.nat({ max: mutations.length - 1 }), fc.nat())
    .map(([body, which, pick]) => {
      // The first defect from `which` on that applies (an unknown field always does).
      for (let i = 0; i < mutations.length; i++) {
        const defect = mutations[(which + i) % mutations.length](body, root, pick);
        if (defect) return toCase(op, path, defect);
      }
      throw new Error(`no defect applies to a body of ${op.key}`);
    });
}
