// Ticket bodies broken at the byte level: nesting, encodings, JSON syntax, content types,
// number literals JSON.parse turns into something else.
import fc from 'fast-check';
import { schemaAt, type JsonSchema } from './openapi';
import { integerBounds, pathText, positions, withAt, type Path } from './schema-arbitrary';
import { choose, type BodyCase } from './ticket-mutations';
import { validTicket } from './ticket-arbitrary';
import { invalid, valid, type Json, type JsonObject } from './types';

const MARK = 'hostile-mark-7f3a';

/** The ticket serialised with the JSON at `path` replaced by `literal` (raw bytes). */
function spliced(ticket: Json, path: Path, literal: Buffer | string, inString = false): Buffer {
  const text = JSON.stringify(withAt(ticket, path, inString ? `ab${MARK}cd` : MARK));
  const [before, after] = text.split(inString ? MARK : `"${MARK}"`);
  return Buffer.concat([Buffer.from(before), Buffer.from(literal), Buffer.from(after)]);
}

const stringPaths = (ticket: JsonObject, root: JsonSchema) =>
  positions(ticket, root)
    .filter((p) => typeof p.value === 'string' && p.path.length)
    .map((p) => p.path);

type Variant = (ticket: JsonObject, root: JsonSchema, pick: number) => BodyCase;

const deepNesting: Variant = (ticket, _root, pick) => {
  const depth = choose([5_000, 20_000, 100_000, 1_000_000], pick);
  const arrays = '['.repeat(depth) + ']'.repeat(depth);
  const objects = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  // Well-formed: 422 (a wrong type where the nesting starts) or 400 (too deep to parse).
  const shapes: [string, Buffer, number[] | undefined][] = [
    ['tasks', spliced(ticket, ['tasks'], arrays), undefined],
    ['title', spliced(ticket, ['title'], objects), undefined],
    ['an unknown field', spliced(ticket, ['nested'], arrays), undefined],
    ['tasks[0].env', spliced(ticket, ['tasks', 0, 'env'], objects), undefined],
    ['the body, unclosed', Buffer.from('['.repeat(depth)), [400]],
    ['the body, objects unclosed', Buffer.from('{"a":'.repeat(depth)), [400]],
  ];
  const [where, body, statuses] = choose(shapes, pick >> 4);
  return {
    cls: 'deep-nesting',
    what: `${depth} levels in ${where}`,
    body,
    expect: invalid(statuses),
  };
};

const BAD_UTF8: [string, number[]][] = [
  ['ff', [0xff]],
  ['fe', [0xfe]],
  ['lone continuation 80', [0x80]],
  ['overlong NUL c0 80', [0xc0, 0x80]],
  ['overlong "/" e0 80 af', [0xe0, 0x80, 0xaf]],
  ['CESU surrogate ed a0 80', [0xed, 0xa0, 0x80]],
  ['above U+10FFFF f4 90 80 80', [0xf4, 0x90, 0x80, 0x80]],
  ['5-byte f8 88 80 80 80', [0xf8, 0x88, 0x80, 0x80, 0x80]],
  ['truncated e2 82', [0xe2, 0x82]],
  ['truncated c3', [0xc3]],
];

const invalidUtf8: Variant = (ticket, root, pick) => {
  const [name, bytes] = choose(BAD_UTF8, pick);
  const path = choose(stringPaths(ticket, root), pick >> 4);
  const outside = (pick >> 12) % 4 === 0;
  const body = outside
    ? Buffer.concat([Buffer.from(JSON.stringify(ticket)), Buffer.from(bytes)])
    : spliced(ticket, path, Buffer.from(bytes), true);
  return {
    cls: 'invalid-utf8',
    what: `${name} ${outside ? 'after the JSON' : `in ${pathText(path)}`}`,
    body,
    expect: invalid([400]),
  };
};

/** Not JSON. Each is sent as application/json. */
export const MALFORMED = [
  '{"title":"t",}',
  "{'title':'t'}",
  '{title:"t"}',
  '{"title":"t"} x',
  '{"a":1}{"b":2}',
  '{"title":NaN}',
  '{"priority":Infinity}',
  '{"priority":-Infinity}',
  '{"priority":+1}',
  '{"priority":01}',
  '{"priority":1.}',
  '{"priority":.5}',
  '{"priority":0x10}',
  '/* c */ {"title":"t"}',
  '{"title":"\\x41"}',
  '{"title":"\\u12"}',
  '{"title":"\\ud83d\\"}',
  '{"title":undefined}',
  '{',
  '[',
  '"',
  '}',
  'nul',
  'tru',
  '   ',
  '{"title" "t"}',
  '{"title":"t" "tasks":[]}',
];

const malformedJson: Variant = (ticket, root, pick) => {
  const full = JSON.stringify(ticket);
  const kind = pick % 3;
  if (kind === 0) {
    const cut = 1 + ((pick >> 2) % (full.length - 1));
    return {
      cls: 'malformed-json',
      what: `cut after ${cut} of ${full.length} bytes`,
      body: Buffer.from(full.slice(0, cut)),
      expect: invalid([400]),
    };
  }
  if (kind === 1) {
    // A raw control character inside a string (JSON wants it escaped).
    const raw = choose(['\n', '\t', '\r', '\u0000', '\u001f'], pick >> 2);
    const path = choose(stringPaths(ticket, root), pick >> 6);
    return {
      cls: 'malformed-json',
      what: `raw U+${raw.charCodeAt(0).toString(16).padStart(4, '0')} in ${pathText(path)}`,
      body: spliced(ticket, path, raw, true),
      expect: invalid([400]),
    };
  }
  const text = choose(MALFORMED, pick >> 2);
  return {
    cls: 'malformed-json',
    what: text.slice(0, 40),
    body: Buffer.from(text),
    expect: invalid([400]),
  };
};

/** Content types and whether a ticket sent with each is accepted. */
const CONTENT_TYPES: [string | undefined, boolean][] = [
  [undefined, false],
  ['', false],
  ['text/plain', false],
  ['application/x-www-form-urlencoded', false],
  ['multipart/form-data; boundary=x', false],
  ['application/xml', false],
  ['text/json', false],
  ['application/jsonx', false],
  ['application/json-seq', false],
  ['application/json; charset=latin1', false],
  ['application/json; charset=utf-7', false],
  ['application/json; charset=utf-16', false],
  ['application/json; charset=utf-8', true],
  ['application/json;charset=UTF-8', true],
  ['Application/JSON', true],
];

const contentType: Variant = (ticket, _root, pick) => {
  const [type, accepted] = choose(CONTENT_TYPES, pick);
  return {
    cls: 'content-type',
    what: type === undefined ? 'no Content-Type' : `Content-Type: ${JSON.stringify(type)}`,
    body: Buffer.from(JSON.stringify(ticket)),
    contentType: type ?? null,
    expect: accepted ? valid(201) : invalid(),
  };
};

/** Number literals, and whether a field whose range holds 0 accepts them (others never do). */
const NUMBERS: [string, 'never' | 'if-zero-fits' | 'malformed'][] = [
  ['1e400', 'never'],
  ['-1e400', 'never'],
  ['2e308', 'never'],
  ['9007199254740993', 'never'],
  ['-9007199254740993', 'never'],
  ['1e21', 'never'],
  ['123456789012345678901234567890', 'never'],
  ['"NaN"', 'never'],
  ['"Infinity"', 'never'],
  ['"1e400"', 'never'],
  ['"-0"', 'never'],
  ['-0', 'if-zero-fits'],
  ['1e-400', 'if-zero-fits'],
  ['-0.0', 'if-zero-fits'],
  ['NaN', 'malformed'],
  ['Infinity', 'malformed'],
  ['-Infinity', 'malformed'],
];

function zeroFits(schema: JsonSchema): boolean {
  if (schema.anyOf) return schema.anyOf.some(zeroFits);
  if (schema.type === 'integer') {
    const { min, max } = integerBounds(schema);
    return min <= 0 && max >= 0;
  }
  return (
    schema.type === 'number' &&
    (schema.minimum ?? -Infinity) <= 0 &&
    (schema.maximum ?? Infinity) >= 0
  );
}

const numericOverflow: Variant = (ticket, root, pick) => {
  const numeric = positions(ticket, root).filter((p) => typeof p.value === 'number');
  const targets = [...numeric, { path: ['priority'], schema: schemaAt(root, 'priority') }];
  const target = choose(targets, pick);
  const [literal, rule] = choose(NUMBERS, pick >> 6);
  const field = pathText(target.path);
  const expect =
    rule === 'malformed'
      ? invalid([400])
      : rule === 'if-zero-fits' && zeroFits(target.schema)
        ? valid(201)
        : invalid([422], field);
  return {
    cls: 'numeric-overflow',
    what: `${field} = ${literal}`,
    body: spliced(ticket, target.path, literal),
    expect,
  };
};

const VARIANTS: { weight: number; variant: Variant }[] = [
  { weight: 2, variant: deepNesting },
  { weight: 3, variant: invalidUtf8 },
  { weight: 4, variant: malformedJson },
  { weight: 3, variant: contentType },
  { weight: 4, variant: numericOverflow },
];

/** Valid tickets, broken at the byte level. */
export function wireMutatedTickets(root: JsonSchema): fc.Arbitrary<BodyCase> {
  return fc.oneof(
    ...VARIANTS.map(({ weight, variant }) => ({
      weight,
      arbitrary: fc
        .tuple(validTicket(root), fc.nat())
        .map(([ticket, pick]) => variant(ticket, root, pick)),
    })),
  );
}
