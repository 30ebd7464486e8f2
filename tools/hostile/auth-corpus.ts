// The corpus of who may call: requests without a key, with every broken form of one,
// with keys that no longer work, with another project's key, and paths that try to pass
// for the public ones. What Node's HTTP parser refuses outright (CR, LF, NUL in a header,
// an obs-fold, a header past 16 KB) never reaches the gateway: 400 or 431 without a body.
// Everything that does reach it without a usable key gets the same 401, whatever was wrong.
import { fillPath, type Pools } from './endpoint-rules';
import type { Operation } from './openapi';
import type { Principals } from './principals';
import { rawRequest } from './send';
import { http, invalid, valid, type Case, type Expect, type Wire } from './types';

const TICKETS = 'GET /tickets';
const PATH = '/tickets?limit=1';

const asIs = (wire: Wire): Wire => ({ ...wire, anonymous: true });

function header(what: string, value: string, expect: Expect): Case {
  return {
    endpoint: TICKETS,
    cls: 'auth',
    what,
    wire: asIs(http('GET', PATH, undefined, { authorization: value })),
    expect,
  };
}

/** Sent byte for byte: values node:http will not send, or several Authorization lines. */
function raw(what: string, headers: [string, string][], expect: Expect, path = PATH): Case {
  return {
    endpoint: TICKETS,
    cls: 'auth',
    what,
    wire: asIs({ kind: 'raw', bytes: rawRequest('GET', path, headers) }),
    expect,
  };
}

const refused = invalid([401]);

/** `key` with its secret replaced: the right shape and prefix, the wrong secret. */
function wrongSecret(key: string): string {
  const cut = key.lastIndexOf('_') + 1;
  const secret = key.slice(cut);
  const other = secret[0] === 'A' ? `B${secret.slice(1)}` : `A${secret.slice(1)}`;
  return key.slice(0, cut) + other;
}

function malformedHeaders(key: string): Case[] {
  const utf8 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
  return [
    header('Authorization empty', '', refused),
    header('"Bearer" alone', 'Bearer', refused),
    header(
      'Basic with user:key',
      `Basic ${Buffer.from(`user:${key}`).toString('base64')}`,
      refused,
    ),
    header('Basic with the key', `Basic ${key}`, refused),
    // RFC 9110 §11.1: the scheme is case-insensitive; RFC 6750: one or more spaces.
    header('lowercase "bearer"', `bearer ${key}`, valid(200)),
    header('uppercase "BEARER"', `BEARER ${key}`, valid(200)),
    header('"Token" scheme', `Token ${key}`, refused),
    header('the key without a scheme', key, refused),
    header('a tab after Bearer', `Bearer\t${key}`, refused),
    header('two spaces after Bearer', `Bearer  ${key}`, valid(200)),
    header('the key quoted', `Bearer "${key}"`, refused),
    header('the key twice, comma-separated', `Bearer ${key}, Bearer ${key}`, refused),
    header('the key and one more character', `Bearer ${key}x`, refused),
    header('the key less its last character', `Bearer ${key.slice(0, -1)}`, refused),
    header('the key in upper case', `Bearer ${key.toUpperCase()}`, refused),
    header('a real prefix, a wrong secret', `Bearer ${wrongSecret(key)}`, refused),
    header('an unknown prefix', `Bearer drv_0123456789abcdef_${'A'.repeat(43)}`, refused),
    header('SQL in the key', `Bearer drv_' OR '1'='1' --`, refused),
    header('a 10 KB key', `Bearer ${'a'.repeat(10 * 1024)}`, refused),
    // OWS around a field value is not part of it (RFC 9110 5.5): the key still works.
    header('spaces after the key (trimmed)', `Bearer ${key}   `, valid(200)),
    raw('the key then é in UTF-8', [['Authorization', `Bearer ${key}${utf8('é')}`]], refused),
    raw(
      'U+202E before the key, in UTF-8',
      [['Authorization', `Bearer ${utf8('\u202e')}${key}`]],
      refused,
    ),
    raw('a Latin-1 byte in the key', [['Authorization', `Bearer ${key}\xff`]], refused),
    // Refused by Node's parser before the gateway sees them.
    raw('NUL in the key', [['Authorization', `Bearer ${key}\u0000`]], invalid([400])),
    raw('CR in the key', [['Authorization', `Bearer ${key}\rx`]], invalid([400])),
    raw(
      'CRLF inside the key',
      [['Authorization', `Bearer ${key.slice(0, 12)}\r\n${key.slice(12)}`]],
      invalid([400]),
    ),
    raw('LF in the key', [['Authorization', `Bearer ${key}\nx`]], invalid([400])),
    raw(
      'the key folded onto a second line',
      [['Authorization', `Bearer\r\n ${key}`]],
      invalid([400]),
    ),
    raw(
      'a 20 KB key (past the 16 KB header limit)',
      [['Authorization', `Bearer ${'a'.repeat(20 * 1024)}`]],
      invalid([431]),
    ),
  ];
}

function duplicatesAndElsewhere(key: string): Case[] {
  const bearer = `Bearer ${key}`;
  return [
    raw(
      'two Authorization headers: junk, then the key',
      [
        ['Authorization', 'Basic abc'],
        ['Authorization', bearer],
      ],
      refused,
    ),
    // Node keeps the first of repeated lines; a proxy might read another: refused.
    raw(
      'two Authorization headers: the key, then junk',
      [
        ['Authorization', bearer],
        ['Authorization', 'Basic abc'],
      ],
      refused,
    ),
    raw(
      'two Authorization headers: the key twice',
      [
        ['Authorization', bearer],
        ['authorization', bearer],
      ],
      refused,
    ),
    raw('the key in Proxy-Authorization', [['Proxy-Authorization', bearer]], refused),
    raw('the key in X-Api-Key', [['X-Api-Key', key]], refused),
    raw('the key in a cookie', [['Cookie', `access_token=${key}`]], refused),
    raw('the key in the query', [], refused, `/tickets?access_token=${key}`),
  ];
}

/** Keys that once worked, and keys of other projects, on objects of ours. */
function otherKeys(principals: Principals, pools: Pools): Case[] {
  const { a, b } = principals;
  const as = (endpoint: string, what: string, key: string, wire: Wire, expect: Expect): Case => {
    if (wire.kind === 'http') wire.request.headers.authorization = `Bearer ${key}`;
    return { endpoint, cls: 'auth', what, wire, expect };
  };
  const ticket = { title: 'auth', tasks: [{ key: 'a', agent: 'nop' }] };
  return [
    header('a revoked key', `Bearer ${a.revoked.key}`, refused),
    header('an expired key', `Bearer ${a.expired.key}`, refused),
    as(
      'GET /tickets/{id}',
      "project A's admin, our ticket",
      a.admin.key,
      http('GET', `/tickets/${pools.tickets[0]}`),
      invalid([404]),
    ),
    as(
      'GET /runs/{id}/logs',
      "project B's admin, our run",
      b.admin.key,
      http('GET', `/runs/${pools.runs[0]}/logs`),
      invalid([404]),
    ),
    as(
      'POST /tickets/{id}/cancel',
      "project A's admin, our open ticket",
      a.admin.key,
      http('POST', `/tickets/${pools.tickets[1]}/cancel`),
      invalid([404]),
    ),
    as(
      'POST /tickets',
      'a viewer submits',
      a.viewer.key,
      http('POST', '/tickets', ticket),
      invalid([403]),
    ),
    as(
      'POST /tickets',
      'a member submits to project "default"',
      a.member.key,
      http('POST', '/tickets', { ...ticket, project: 'default' }),
      invalid([403], 'project'),
    ),
    as(
      'POST /projects',
      "project A's admin (not the operator's)",
      a.admin.key,
      http('POST', '/projects', { slug: 'by-a', name: 'x' }),
      invalid([403]),
    ),
    as(
      'POST /projects/{id}/keys',
      "project A's admin, our project",
      a.admin.key,
      http('POST', `/projects/${pools.project}/keys`, { name: 'x', role: 'admin' }),
      invalid([404]),
    ),
    as(
      'DELETE /keys/{id}',
      "project A's admin, a key of ours",
      a.admin.key,
      http('DELETE', `/keys/${pools.keys[pools.keys.length - 1]}`),
      invalid([404]),
    ),
    as(
      'DELETE /keys/{id}',
      'a member revokes a key of its project',
      a.member.key,
      http('DELETE', `/keys/${a.viewer.id}`),
      invalid([403]),
    ),
    as(
      'GET /projects/{id}/keys',
      'a viewer lists keys',
      a.viewer.key,
      http('GET', `/projects/${a.id}/keys`),
      invalid([403]),
    ),
  ];
}

/** Paths that start like the public ones, and unknown paths: none is public (the dashboard's files are). */
function paths(): Case[] {
  const get = (path: string, expect: Expect, method = 'GET'): Case => ({
    endpoint: TICKETS,
    cls: 'auth',
    what: `no key: ${method} ${path}`,
    wire: asIs(http(method, path)),
    expect,
  });
  return [
    get('/health', valid(200)),
    get('/docs-json', valid(200)),
    {
      ...get('/health', valid(200)),
      what: 'a junk key on /health (public)',
      wire: asIs(http('GET', '/health', undefined, { authorization: 'Bearer junk' })),
    },
    get('/health/../tickets', invalid([404])),
    get('/docs/../tickets', invalid([404])),
    get('/docs-json/../tickets', invalid([404])),
    get('/health%2f..%2ftickets', refused),
    get('//tickets', refused),
    get('/HEALTH', refused),
    get('/TICKETS', refused),
    get('/tickets/', refused),
    get('/no-such-path', refused),
    // The dashboard's files need no key; nothing else under /ui is read, and /ui is all.
    get('/ui', valid(200)),
    get('/ui/tickets/x', valid(200)),
    get('/ui/../tickets', invalid([404])),
    get('/ui/.build-hash', invalid([404])),
    get('/ui/assets/..%2f..%2fpackage.json', invalid([404])),
    get('/ui', invalid([405]), 'POST'),
    get('/uix', refused),
    get('/UI', refused),
    get('/tickets', refused, 'OPTIONS'),
    get('/tickets', refused, 'HEAD'),
    {
      ...get('/no-such-path', invalid([404])),
      what: 'with the key: GET /no-such-path',
      wire: http('GET', '/no-such-path'),
    },
  ];
}

/** Unread bodies: without a key the gateway answers 401 before parsing or limiting them. */
function unreadBodies(): Case[] {
  const post = (what: string, body: Buffer, headers: Record<string, string> = {}): Case => ({
    endpoint: 'POST /tickets',
    cls: 'auth',
    what: `no key: ${what}`,
    wire: asIs(http('POST', '/tickets', body, headers)),
    expect: refused,
    timeoutMs: 60_000,
  });
  return [
    post('malformed JSON', Buffer.from('{"title":')),
    post('an 11 MB body', Buffer.alloc(11 * 2 ** 20, 32)),
    post('a body that does not inflate', Buffer.from('not gzip'), { 'content-encoding': 'gzip' }),
    post('a UTF-7 body', Buffer.from('{}'), { 'content-type': 'application/json; charset=utf-7' }),
  ];
}

/** Every operation of the document but the public ones, without a key: 401. */
function everyOperation(operations: Operation[], pools: Pools): Case[] {
  return operations
    .filter((op) => op.secured)
    .map((op) => ({
      endpoint: op.key,
      cls: 'auth',
      what: 'no key',
      wire: asIs(http(op.method, fillPath(op.template, pools), op.body ? { x: 1 } : undefined)),
      expect: refused,
    }));
}

export function authCorpus(operations: Operation[], pools: Pools, principals: Principals): Case[] {
  const key = principals.operator.admin.key;
  return [
    ...everyOperation(operations, pools),
    ...malformedHeaders(key),
    ...duplicatesAndElsewhere(key),
    ...otherKeys(principals, pools),
    ...paths(),
    ...unreadBodies(),
  ];
}
