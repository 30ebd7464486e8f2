// Requests for every operation of the document: valid ones from its schema and the
// rules, and each hostile class that applies to the operation, labelled.
import fc from 'fast-check';
import { mutatedAccessBodies } from './access-bodies';
import { fillPath, RULES, type Pools } from './endpoint-rules';
import type { Operation } from './openapi';
import { rawRequest } from './send';
import { validTicket } from './ticket-arbitrary';
import { mutatedTickets, type BodyCase } from './ticket-mutations';
import { http, invalid, valid, type Case, type InputClass, type Wire } from './types';
import { MALFORMED, wireMutatedTickets } from './wire-mutations';

type Weighted = { weight: number; arbitrary: fc.Arbitrary<Case> };

const UUID = '7b0e3f1a-0d7e-4a53-9a3c-2f1d6f9e8b11';

/** Path parameter values that are not ids: traversal, encodings, NUL, junk. All get a 4xx. */
const BAD_IDS = [
  '..',
  '.',
  '../health',
  '..%2f..%2fhealth',
  '%2e%2e%2f',
  '%2e%2e',
  '%252e%252e%252f',
  '..%5c..%5c',
  '..\\..\\',
  '%00',
  `${UUID}%00`,
  `%00${UUID}`,
  `${UUID}%2f..`,
  `${UUID}/..`,
  `${UUID}%20`,
  `${UUID}x`,
  UUID.slice(1),
  UUID.replaceAll('-', ''),
  `{${UUID}}`,
  `${UUID};drop table ticket`,
  `${UUID}'`,
  '1',
  '0',
  '-1',
  'null',
  'undefined',
  'NaN',
  '{id}',
  ':id',
  '%7Bid%7D',
  '*',
  '%20',
  '%',
  '%zz',
  '%E0%A4%A',
  'zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz',
  '%E2%80%AE',
  '%EF%BC%8E%EF%BC%8E',
];

const BAD_UTF8_IN_URL = ['%FF', '%C0%80', '%ED%A0%80', '%F8%88%80%80%80', '%E2%82', `${UUID}%FF`];

/** Query strings each operation with a query must refuse with 400, by class. */
function badQueries(op: Operation): [InputClass, string][] {
  const declared = op.query;
  const numeric = declared.filter((q) => q === 'limit' || q === 'after');
  const out: [InputClass, string][] = [
    ['unknown-field', 'foo=1'],
    ['unknown-field', `${declared[0]}=1&unknown=2`],
    ['unknown-field', '=1'],
    ['proto-keys', '__proto__=1'],
    ['proto-keys', 'constructor=x'],
    ['proto-keys', 'prototype=1'],
    ['proto-keys', '__proto__[limit]=1'],
    ['proto-keys', 'constructor[prototype][polluted]=1'],
    ['proto-keys', 'toString=1'],
    ['huge-string', `${declared[0]}=${'9'.repeat(8000)}`],
    ...BAD_UTF8_IN_URL.map((b): [InputClass, string] => ['invalid-utf8', `${declared[0]}=${b}`]),
  ];
  for (const name of declared) {
    out.push(
      ['query-injection', `${name}=1&${name}=2`],
      ['query-injection', `${name}[]=1`],
      ['query-injection', `${name}[a]=1`],
      ['query-injection', `${name}=%00`],
      ['query-injection', `${name}=1%00`],
      ['query-injection', `${name}=1%0d%0aX-Injected:%201`],
    );
  }
  for (const name of numeric) {
    out.push(
      ['query-injection', `${name}=-1`],
      ['query-injection', `${name}=1.5`],
      ['query-injection', `${name}=99999999999`],
      ['numeric-overflow', `${name}=1e400`],
      ['numeric-overflow', `${name}=-1e400`],
      ['numeric-overflow', `${name}=NaN`],
      ['numeric-overflow', `${name}=Infinity`],
      ['numeric-overflow', `${name}=9007199254740993`],
      ['numeric-overflow', `${name}=123456789012345678901234567890`],
      ['wrong-type', `${name}=abc`],
      ['wrong-type', `${name}=true`],
      ['wrong-type', `${name}=null`],
    );
  }
  if (declared.includes('limit')) {
    out.push(
      ['query-injection', 'limit=0'],
      ['query-injection', 'limit=100000'],
      ['numeric-overflow', 'limit=-0'],
    );
  }
  if (declared.includes('status')) {
    out.push(
      ['query-injection', 'status=pending'],
      ['query-injection', 'status=PENDING%00'],
      ['query-injection', 'status=__proto__'],
      ['wrong-type', 'status=123'],
    );
  }
  if (declared.includes('cursor'))
    out.push(...badCursors().map((c): [InputClass, string] => ['query-injection', `cursor=${c}`]));
  return out;
}

const b64 = (text: string) => Buffer.from(text).toString('base64url');

/** Cursors the API never issued, some shaped almost like its own. */
function badCursors(): string[] {
  return [
    'x'.repeat(201),
    '%00',
    '!!!',
    'bm90LWEtY3Vyc29y',
    b64(`2020-01-01T00:00:00.000Z|${'-'.repeat(36)}`),
    b64(`-200000-01-01T00:00:00.000Z|${UUID}`),
    b64(`+275760-09-13T00:00:00.000Z|${UUID}`),
    b64(`2020-13-45T99:99:99.000Z|${UUID}`),
    b64(`2020-01-01T00:00:00.000Z|${UUID}' OR 1=1 --`),
    b64(`2020-01-01T00:00:00.000Z|${UUID}|extra`),
    b64(`|${UUID}`),
    b64('2020-01-01T00:00:00.000Z|'),
    b64(`0|${UUID}`),
  ];
}

/** Header values node:http will not send; each must get a 400 from the server. */
const BAD_HEADER_VALUES = ['a\r\nb', 'a\nb', 'a\rb', 'a\u0000b', 'a\u0001b', 'a\r\n b'];
/** Idempotency-Key values the parser lets through and the gateway must refuse. */
const BAD_KEYS = ['a b', 'a\tb', 'a\u00ffb', 'k'.repeat(201), '', 'a, b'];

function headerInjection(op: Operation, pools: Pools, body?: Buffer): fc.Arbitrary<Case> {
  const path = fillPath(op.template, pools);
  const posting = op.key === 'POST /tickets';
  const values = posting ? [...BAD_HEADER_VALUES, ...BAD_KEYS] : BAD_HEADER_VALUES;
  return fc.tuple(fc.constantFrom(...values), fc.boolean()).map(([value, twice]) => {
    const name = posting || twice ? 'Idempotency-Key' : 'X-Request-Id';
    const headers: [string, string][] = [[name, value]];
    // Two keys become one header "k1, k2": not a key either.
    if (posting && twice) headers.push([name, 'second-key']);
    return {
      endpoint: op.key,
      cls: 'header-injection',
      what: `${name}: ${JSON.stringify(value.length > 40 ? `${value.slice(0, 8)}…(${value.length})` : value)}${posting && twice ? ' twice' : ''}`,
      wire: { kind: 'raw', bytes: rawRequest(op.method, path, headers, body) },
      expect: invalid([400]),
    };
  });
}

/** Hostile values in each path parameter, the others valid. */
function pathInjection(op: Operation, pools: Pools): fc.Arbitrary<Case> {
  const long = ['a'.repeat(5_000), 'a'.repeat(20_000)];
  const entries: [InputClass, string][] = [
    ...BAD_IDS.map((v): [InputClass, string] => ['path-injection', v]),
    ...long.map((v): [InputClass, string] => ['huge-string', v]),
    ...BAD_UTF8_IN_URL.map((v): [InputClass, string] => ['invalid-utf8', v]),
  ];
  return fc
    .tuple(fc.constantFrom(...entries), fc.constantFrom(...op.pathParams))
    .map(([[cls, value], param]) => {
      const filled = fillPath(op.template.replace(`{${param}}`, '\u0001'), pools);
      return {
        endpoint: op.key,
        cls,
        what: `${param} = ${value.length > 40 ? `${value.slice(0, 6)}…(${value.length})` : value}`,
        wire: http(op.method, filled.replace('\u0001', value)),
        expect: invalid(),
      };
    });
}

function queryCases(op: Operation, pools: Pools): fc.Arbitrary<Case> {
  const base = fillPath(op.template, pools);
  return fc.constantFrom(...badQueries(op)).map(([cls, query]) => ({
    endpoint: op.key,
    cls,
    what: `?${query.length > 48 ? `${query.slice(0, 20)}…(${query.length})` : query}`,
    wire: http(op.method, `${base}?${query}`),
    expect: invalid([400]),
  }));
}

function malformedBodies(op: Operation, pools: Pools): fc.Arbitrary<Case> {
  const path = fillPath(op.template, pools);
  return fc.constantFrom(...MALFORMED).map((text) => ({
    endpoint: op.key,
    cls: 'malformed-json',
    what: `body ${text.slice(0, 30)}`,
    wire: http(op.method, path, Buffer.from(text)),
    expect: invalid([400]),
  }));
}

/** A POST /tickets case from a body case. */
export function ticketCase(body: BodyCase, endpoint = 'POST /tickets'): Case {
  const bytes = Buffer.isBuffer(body.body) ? body.body : Buffer.from(JSON.stringify(body.body));
  const wire: Wire = http('POST', '/tickets', bytes);
  if (wire.kind === 'http') {
    if (body.contentType === null) delete wire.request.headers['content-type'];
    else if (body.contentType !== undefined)
      wire.request.headers['content-type'] = body.contentType;
  }
  return { endpoint, cls: body.cls, what: body.what, wire, expect: body.expect, timeoutMs: 30_000 };
}

function ticketCases(op: Operation, pools: Pools): Weighted[] {
  if (!op.body) throw new Error(`${op.key} has no body schema in the document`);
  const root = op.body;
  const slugs = ['no-such-project', ...pools.foreign.slugs];
  const validBodies = fc.tuple(validTicket(root), fc.nat()).map(([ticket, pick]): BodyCase => {
    // A project but the key's ("default"), existing or not: 403, nothing written.
    const otherProject = pick % 12 === 0 ? slugs[(pick >> 4) % slugs.length] : undefined;
    return otherProject
      ? {
          cls: 'foreign-id',
          what: `a valid ticket of project ${otherProject}, not the key's`,
          body: { ...ticket, project: otherProject },
          expect: invalid([403], 'project'),
        }
      : {
          cls: 'valid',
          what: `a valid ticket of ${Array.isArray(ticket.tasks) ? ticket.tasks.length : 0} tasks`,
          body: ticket,
          expect: valid(201),
        };
  });
  const validTicketBody = Buffer.from(
    JSON.stringify({ title: 'h', tasks: [{ key: 'a', agent: 'nop' }] }),
  );
  return [
    { weight: 8, arbitrary: validBodies.map((b) => ticketCase(b)) },
    { weight: 24, arbitrary: mutatedTickets(root).map((b) => ticketCase(b)) },
    { weight: 10, arbitrary: wireMutatedTickets(root).map((b) => ticketCase(b)) },
    { weight: 3, arbitrary: headerInjection(op, pools, validTicketBody) },
  ];
}

/** Every case class that applies to `op`, weighted. */
export function operationCases(op: Operation, pools: Pools): fc.Arbitrary<Case> {
  const rule = RULES[op.key];
  if (!rule)
    throw new Error(`no rule for ${op.key}: say in endpoint-rules.ts what a valid request gets`);
  const validCases = rule.valid(pools, op).map((v): Case => ({
    endpoint: op.key,
    cls: v.cls ?? 'valid',
    what: v.what,
    wire: http(op.method, v.path, v.body),
    expect: v.expect,
  }));
  const parts: Weighted[] =
    op.key === 'POST /tickets'
      ? ticketCases(op, pools)
      : [
          { weight: 6, arbitrary: validCases },
          { weight: 2, arbitrary: malformedBodies(op, pools) },
          { weight: 2, arbitrary: headerInjection(op, pools) },
        ];
  if (op.body && op.key !== 'POST /tickets') {
    parts.push({ weight: 8, arbitrary: mutatedAccessBodies(op, fillPath(op.template, pools)) });
  }
  if (op.pathParams.length) parts.push({ weight: 6, arbitrary: pathInjection(op, pools) });
  if (op.query.length) parts.push({ weight: 8, arbitrary: queryCases(op, pools) });
  return fc.oneof(...parts);
}

/** How many of the budget each operation gets: the ticket body has the most to attack. */
export function share(op: Operation): number {
  if (op.key === 'POST /tickets') return 8;
  if (op.query.length || op.body) return 2;
  return 1;
}
