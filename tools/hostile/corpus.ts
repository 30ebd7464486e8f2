// The hand-written corpus: graphs, limits and encodings here; per field (shell
// metacharacters, paths, artifact names) in corpus-fields.ts. Each case says what it
// must get and why.
import { randomBytes } from 'node:crypto';
import { gzipSync, deflateSync } from 'node:zlib';
import { artifactTraversal, body, pathEscapes, shellMetachars, ticket } from './corpus-fields';
import { documentCorpus } from './corpus-documents';
import type { Pools } from './endpoint-rules';
import { nopTask } from './ticket-arbitrary';
import { invalid, valid, type Case, type Expect, type JsonObject } from './types';

const chain = (n: number, close = false) =>
  Array.from({ length: n }, (_, i) =>
    nopTask(`t-${i}`, i ? [`t-${i - 1}`] : close ? [`t-${n - 1}`] : []),
  );

/** `n` independent tasks and one that depends on all of them. */
function fanIn(n: number): JsonObject[] {
  const keys = Array.from({ length: n }, (_, i) => `d-${i}`);
  return [...keys.map((k) => nopTask(k)), nopTask('all', keys)];
}

function graphs(): Case[] {
  const g = (what: string, tasks: JsonObject[], expect: Expect) =>
    body('graph', what, ticket(tasks), expect);
  return [
    g('cycle a -> b -> a', [nopTask('a', ['b']), nopTask('b', ['a'])], invalid([422], 'tasks')),
    g(
      'cycle a -> b -> c -> a',
      [nopTask('a', ['c']), nopTask('b', ['a']), nopTask('c', ['b'])],
      invalid([422], 'tasks'),
    ),
    g('self-dependency', [nopTask('a', ['a'])], invalid([422], 'depends_on')),
    g('dependency on a missing key', [nopTask('a', ['ghost'])], invalid([422], 'depends_on')),
    g('duplicate keys', [nopTask('a'), nopTask('a')], invalid([422], 'tasks')),
    g(
      'duplicate keys in a cycle',
      [nopTask('a', ['a']), nopTask('a', ['b']), nopTask('b', ['a'])],
      invalid([422]),
    ),
    g('a dependency named twice', [nopTask('a'), nopTask('b', ['a', 'a'])], valid(201)),
    g(
      'keys constructor and prototype',
      [nopTask('constructor'), nopTask('prototype', ['constructor'])],
      valid(201),
    ),
    g('dependency on __proto__', [nopTask('a', ['__proto__'])], invalid([422], 'depends_on')),
    g(
      'dependency on hasownproperty (absent)',
      [nopTask('a', ['hasownproperty'])],
      invalid([422], 'depends_on'),
    ),
    g('10,000 tasks closed into one cycle', chain(10_000, true), invalid([422], 'tasks')),
    g('1,000 dependencies (the most)', fanIn(1_000), valid(201)),
    g('1,001 dependencies', fanIn(1_001), invalid([422], 'depends_on')),
  ];
}

function limits(): Case[] {
  const l = (what: string, b: JsonObject | Buffer, expect: Expect) =>
    body('limits', what, b, expect);
  const steps = (n: number) => [
    { key: 's', steps: Array.from({ length: n }, () => ({ run: 'true' })) },
  ];
  // Incompressible and valid: more than NATS carries even gzip-compressed.
  const noise = Object.fromEntries(
    Array.from({ length: 5 }, (_, j) => [`V${j}`, randomBytes(45_000).toString('base64')]),
  );
  const big = ticket(Array.from({ length: 20 }, (_, i) => ({ ...nopTask(`n-${i}`), env: noise })));
  const overLimit = Buffer.from(
    JSON.stringify(ticket([nopTask('a')], { pad: 'x'.repeat(11 * 2 ** 20) })),
  );
  const gzipped = (b: Buffer, encoding: string, what: string, expect: Expect): Case => {
    const c = body('limits', what, b, expect);
    if (c.wire.kind === 'http') c.wire.request.headers['content-encoding'] = encoding;
    return c;
  };
  const small = Buffer.from(JSON.stringify(ticket([nopTask('a')])));
  return [
    l('10,000 tasks in a chain', ticket(chain(10_000)), valid(201)),
    l(
      '10,001 tasks',
      ticket(Array.from({ length: 10_001 }, (_, i) => nopTask(`w-${i}`))),
      invalid([422], 'tasks'),
    ),
    l('100 steps', ticket(steps(100)), valid(201)),
    l('101 steps', ticket(steps(101)), invalid([422], 'steps')),
    l('a 500-character title', ticket([nopTask('a')], { title: 'x'.repeat(500) }), valid(201)),
    l(
      'a 501-character title',
      ticket([nopTask('a')], { title: 'x'.repeat(501) }),
      invalid([422], 'title'),
    ),
    l('4.5 MB of random variables (valid, too large for NATS)', big, invalid([413])),
    l('11 MB body (over the 10 MB limit)', overLimit, invalid([413])),
    gzipped(gzipSync(small), 'gzip', 'a gzip-compressed ticket', valid(201)),
    gzipped(
      gzipSync(Buffer.alloc(50 * 2 ** 20, 32)),
      'gzip',
      'a gzip bomb: 50 MB of spaces',
      invalid([413]),
    ),
    gzipped(
      Buffer.from('not gzip at all'),
      'gzip',
      'Content-Encoding: gzip, body not gzip',
      invalid([400]),
    ),
    gzipped(
      Buffer.from('not deflate'),
      'deflate',
      'Content-Encoding: deflate, body not deflate',
      invalid([400]),
    ),
    gzipped(deflateSync(small), 'gzip', 'deflate data sent as gzip', invalid([400])),
    gzipped(small, 'compress', 'Content-Encoding: compress', invalid([415])),
  ];
}

function encodings(): Case[] {
  const utf16 = (text: string) => Buffer.from(text, 'utf16le');
  const e = (what: string, b: Buffer, expect: Expect, type: string) =>
    body('encoding', what, b, expect, type);
  const good = JSON.stringify(ticket([nopTask('a')], { title: 'ünïcödé ✓' }));
  return [
    e('UTF-16LE, declared', utf16(good), valid(201), 'application/json; charset=utf-16le'),
    e(
      'UTF-16LE with an unpaired surrogate',
      utf16(JSON.stringify(ticket([nopTask('a')], { title: 'a\ud800b' }))),
      invalid([422], 'title'),
      'application/json; charset=utf-16le',
    ),
    e('UTF-16LE, declared UTF-8', utf16(good), invalid([400]), 'application/json; charset=utf-8'),
    e(
      'Latin-1 bytes, declared UTF-8',
      Buffer.from(good, 'latin1'),
      invalid([400]),
      'application/json',
    ),
  ];
}

/**
 * A key twice in one object: JSON.parse would keep the last without a word, so
 * the gateway refuses it as YAML documents are refused, naming the key's path.
 */
function duplicateKeys(): Case[] {
  const task = JSON.stringify(nopTask('a'));
  const d = (
    what: string,
    text: string,
    expect: Expect,
    type?: string,
    bytes = Buffer.from(text),
  ) => body('malformed-json', what, bytes, expect, type);
  const twice = `{"title":"a","tasks":[${task}],"title":"b"}`;
  return [
    d('"title" twice', twice, invalid([422], 'title')),
    d(
      '"key" twice in tasks[0]',
      `{"title":"a","tasks":[${task.replace('{', '{"key":"z",')}]}`,
      invalid([422], 'tasks.0.key'),
    ),
    d(
      '"CI" twice in env, once escaped',
      `{"title":"a","tasks":[${task.replace('{', '{"env":{"CI":"1","C\\u0049":"2"},')}]}`,
      invalid([422], 'tasks.0.env.CI'),
    ),
    d(
      '"title" twice, UTF-16LE',
      twice,
      invalid([422], 'title'),
      'application/json; charset=utf-16le',
      Buffer.from(twice, 'utf16le'),
    ),
    d(
      'the same key in different objects',
      `{"title":"a","tasks":[${task},${JSON.stringify(nopTask('b'))}]}`,
      valid(201),
    ),
  ];
}

/** Every static corpus case. */
export function corpus(pools: Pools): Case[] {
  return [
    ...graphs(),
    ...limits(),
    ...shellMetachars(),
    ...pathEscapes(),
    ...artifactTraversal(pools),
    ...encodings(),
    ...duplicateKeys(),
    ...documentCorpus(),
  ];
}
