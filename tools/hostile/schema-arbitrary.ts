// Valid values from a JSON schema, and the positions of a JSON value with the schema of each.
import fc from 'fast-check';
import type { JsonSchema } from './openapi';
import type { Json, JsonObject } from './types';

/** Free text: any code point but NUL (no lone surrogates either: the unit never makes them). */
const textUnit = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 1 })
  .filter((c) => c !== '\0');

/**
 * Text of `min`..`max` code points (as maxLength counts): mostly short and of any
 * character (controls included, which free text may hold), sometimes exactly `max` long.
 */
export function text(min: number, max: number): fc.Arbitrary<string> {
  const short = fc.string({
    unit: textUnit,
    minLength: Math.max(min, 1),
    maxLength: Math.max(Math.min(40, max), min, 1),
  });
  const longest = fc.constantFrom('x', 'é', '\t').map((c) => c.repeat(max));
  return fc.oneof({ weight: 30, arbitrary: short }, { weight: 1, arbitrary: longest });
}

/** A valid string for `schema`: one of its enum, a match of its pattern, or text. */
export function stringFor(schema: JsonSchema): fc.Arbitrary<string> {
  const min = schema.minLength ?? 0;
  const max = schema.maxLength ?? 1024;
  if (schema.enum) return fc.constantFrom(...schema.enum.map(String));
  if (schema.pattern) {
    return fc
      .stringMatching(new RegExp(schema.pattern))
      .filter((s) => [...s].length >= min && [...s].length <= max);
  }
  return text(min, max);
}

/** The least an integer under `schema` may be. */
export function integerBounds(schema: JsonSchema): { min: number; max: number } {
  const min = schema.minimum ?? -1_000_000;
  const exclusive = schema.exclusiveMinimum === true ? 1 : 0;
  return { min: min + exclusive, max: schema.maximum ?? 1_000_000 };
}

/** Names of environment variables: the document's only maps are `env`. */
export const envName = fc
  .stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,30}$/)
  .filter((n) => !n.startsWith('DROVER_') && n !== '__proto__');

// Built once per schema node: a regex arbitrary takes milliseconds to build, microseconds to run.
const built = new WeakMap<JsonSchema, fc.Arbitrary<Json>>();

/** A valid value for `schema` (objects: every required property, some optional ones). */
export function arbitraryFor(schema: JsonSchema): fc.Arbitrary<Json> {
  let arbitrary = built.get(schema);
  if (!arbitrary) built.set(schema, (arbitrary = build(schema)));
  return arbitrary;
}

function build(schema: JsonSchema): fc.Arbitrary<Json> {
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map(arbitraryFor));
  const type = schema.type ?? '(none)';
  switch (type) {
    case 'string':
      return stringFor(schema);
    case 'integer': {
      const { min, max } = integerBounds(schema);
      return fc.integer({ min, max });
    }
    case 'number':
      return fc.double({
        min: schema.minimum ?? -1e6,
        max: schema.maximum ?? 1e6,
        noNaN: true,
        noDefaultInfinity: true,
      });
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(arbitraryFor(schema.items ?? {}), {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 4, Math.max(schema.minItems ?? 0, 4)),
      });
    case 'object':
      return objectFor(schema);
    default:
      throw new Error(`no arbitrary for schema type ${type}`);
  }
}

function objectFor(schema: JsonSchema): fc.Arbitrary<Json> {
  const extra = schema.additionalProperties;
  if (!schema.properties && typeof extra === 'object') {
    return fc.dictionary(envName, arbitraryFor(extra), { maxKeys: 4 });
  }
  const model: Record<string, fc.Arbitrary<Json>> = {};
  for (const [name, s] of Object.entries(schema.properties ?? {})) model[name] = arbitraryFor(s);
  return fc.record(model, { requiredKeys: schema.required ?? [] });
}

export type Path = (string | number)[];

/** A place in a JSON value, with the schema that governs it. */
export interface Position {
  path: Path;
  schema: JsonSchema;
  value: Json;
  /** An entry of a map (`env`): its key is data, not a declared property. */
  inMap: boolean;
}

/** Every position of `value` under `schema`, the root first. */
export function positions(value: Json, schema: JsonSchema, path: Path = []): Position[] {
  const out: Position[] = [{ path, schema, value, inMap: false }];
  if (Array.isArray(value)) {
    value.forEach((item, i) => out.push(...positions(item, schema.items ?? {}, [...path, i])));
  } else if (isObject(value)) {
    for (const [key, child] of Object.entries(value)) {
      const declared = schema.properties?.[key];
      const extra = schema.additionalProperties;
      if (declared) out.push(...positions(child, declared, [...path, key]));
      else if (typeof extra === 'object') {
        out.push({ ...positions(child, extra, [...path, key])[0], inMap: true });
      }
    }
  }
  return out;
}

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A deep copy (own `__proto__` keys stay own keys: JSON.parse defines them). */
export function copy<T extends Json>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** Defines `key` as an own property, even `__proto__` (an assignment would set the prototype). */
export function put(target: JsonObject | Json[], key: string | number, value: Json): void {
  Object.defineProperty(target, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/** A copy of `root` with the value at `path` replaced (or added), or removed when `value` is undefined. */
export function withAt(root: Json, path: Path, value: Json | undefined): Json {
  if (path.length === 0) {
    if (value === undefined) throw new Error('cannot remove the root');
    return value;
  }
  const out = copy(root);
  let parent: Json = out;
  for (const key of path.slice(0, -1)) {
    const next: Json | undefined = Array.isArray(parent)
      ? parent[Number(key)]
      : isObject(parent)
        ? parent[key]
        : undefined;
    if (next === undefined) throw new Error(`no value at ${path.join('.')}`);
    parent = next;
  }
  const last = path[path.length - 1];
  if (!Array.isArray(parent) && !isObject(parent))
    throw new Error(`not a container: ${path.join('.')}`);
  if (value !== undefined) put(parent, last, value);
  else if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else delete parent[last];
  return out;
}

/** JSON types a schema admits (`integer` apart from `number`). */
export function typesOf(schema: JsonSchema): Set<string> {
  if (schema.anyOf) return new Set(schema.anyOf.flatMap((s) => [...typesOf(s)]));
  const type = schema.type ?? 'object';
  return new Set(type === 'number' ? ['number', 'integer'] : [type]);
}

const SAMPLES: [string, Json][] = [
  ['string', 'x'],
  ['string', '1'],
  ['integer', 7],
  ['integer', 0],
  ['number', 1.5],
  ['boolean', true],
  ['boolean', false],
  ['null', null],
  ['array', []],
  ['array', ['x']],
  ['object', {}],
  ['object', { run: 'x' }],
];

/** Values of a JSON type the schema does not admit. */
export function wrongTypes(schema: JsonSchema): Json[] {
  const allowed = typesOf(schema);
  return SAMPLES.filter(([type]) => !allowed.has(type)).map(([, v]) => v);
}

/** `a.b[2].c`, as the gateway names fields in its error details. */
export function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i ? `.${p}` : p)).join('');
}
