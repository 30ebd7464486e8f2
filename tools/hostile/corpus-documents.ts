// Hostile documents: work orders and YAML tickets sent as the body or uploaded,
// built to hurt a YAML parser (alias bombs, deep nesting, custom tags, huge
// documents), to pollute prototypes, or to slip a bad value past the checks;
// and pipelines whose templates and conditions are built to run code. Each must
// get its 4xx (a few are valid and must get 201), and the gateway must keep
// answering.
import { body } from './corpus-fields';
import { nopTask } from './ticket-arbitrary';
import { invalid, valid, type Case, type Expect, type JsonObject } from './types';

const MARKDOWN = 'text/markdown';
const YAML = 'application/yaml';

const doc = (what: string, text: string | Buffer, expect: Expect, type = MARKDOWN): Case =>
  body('document', what, Buffer.isBuffer(text) ? text : Buffer.from(text), expect, type);

const workOrder = (front: string, text = 'Do the thing.') => `---\n${front}\n---\n${text}\n`;

/** A billion-laughs document: each level names the one before ten times. */
function aliasBomb(levels: number): string {
  const lines = ['a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]'];
  for (let i = 1; i < levels; i++) {
    const refs = Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ');
    lines.push(`a${i}: &a${i} [${refs}]`);
  }
  return lines.join('\n');
}

/** A multipart/form-data upload of one file in the field `file`. */
function upload(what: string, name: string, content: string | Buffer, expect: Expect): Case {
  const boundary = 'hostileBoundary7MA4YWxkTrZu0gW';
  const bytes = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
    ),
    Buffer.isBuffer(content) ? content : Buffer.from(content),
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return body('document', what, bytes, expect, `multipart/form-data; boundary=${boundary}`);
}

function documents(): Case[] {
  const ok = workOrder('title: fine\nagent: nop');
  return [
    doc('a valid work order', ok, valid(201)),
    doc(
      'a valid YAML ticket',
      'title: fine\ntasks:\n  - key: a\n    agent: nop\n',
      valid(201),
      YAML,
    ),
    doc('no front matter', 'just text', invalid([422])),
    doc('front matter never closed', '---\ntitle: x\n', invalid([422])),
    doc('front matter a list', workOrder('- a\n- b'), invalid([422])),
    doc(
      'an unknown field',
      workOrder('title: x\nmax_iteration: 2'),
      invalid([422], 'max_iteration'),
    ),
    doc(
      'a wrong type',
      workOrder('title: x\nmax_iterations: lots'),
      invalid([422], 'max_iterations'),
    ),
    doc('a duplicate key', workOrder('title: x\ntitle: y'), invalid([422])),
    doc('__proto__ at the top', workOrder('title: x\n__proto__: {polluted: 1}'), invalid([422])),
    doc(
      '__proto__ in env',
      workOrder('title: x\nagent: nop\nenv: {__proto__: {a: b}}'),
      invalid([422]),
    ),
    doc('a custom tag', workOrder('title: !!js/function "function(){}"'), invalid([422])),
    doc('a ruby object tag', workOrder('title: !ruby/object:Gem::Installer {}'), invalid([422])),
    doc('an alias bomb', workOrder(`title: x\n${aliasBomb(9)}`), invalid([422])),
    doc('nesting 10,000 deep', workOrder(`title: x\nenv: ${'['.repeat(10_000)}`), invalid([422])),
    doc('a NUL in the title', workOrder('title: "a\\0b"\nagent: nop'), invalid([422], 'title')),
    doc(
      'invalid UTF-8',
      Buffer.concat([
        Buffer.from('---\ntitle: '),
        Buffer.from([0xc3, 0x28]),
        Buffer.from('\n---\n'),
      ]),
      invalid([400]),
    ),
    doc(
      'a CLI agent with an empty body',
      workOrder('title: x\nagent: claude-code', ''),
      invalid([422]),
    ),
    doc(
      'over 1 MiB',
      workOrder('title: x\nagent: nop', 'x'.repeat(1024 * 1024)),
      invalid([413, 422]),
    ),
    doc(
      'a YAML ticket that is JSON with a cycle',
      JSON.stringify({ title: 'c', tasks: [nopTask('a', ['b']), nopTask('b', ['a'])] }),
      invalid([422]),
      YAML,
    ),
    doc('text/markdown; charset=utf-16', ok, invalid([415]), 'text/markdown; charset=utf-16'),
    upload('an uploaded work order', 'ok.md', ok, valid(201)),
    upload('an upload of an unknown kind', 'ok.exe', ok, invalid([415])),
    upload('an upload with a path in its name', '../../etc/passwd.md', ok, valid(201)),
    upload('an uploaded alias bomb', 'bomb.yaml', `title: x\n${aliasBomb(9)}`, invalid([422])),
  ];
}

/** Templates and conditions that try to run code, read prototypes or name what is not upstream. */
function pipelines(): Case[] {
  const step = (key: string, extra: JsonObject = {}): JsonObject => ({
    key,
    steps: [{ run: 'true' }],
    ...extra,
  });
  const p = (what: string, tasks: JsonObject[], expect: Expect) =>
    body('graph', what, { title: 'pipeline', tasks }, expect);
  const after = (extra: JsonObject) => [step('a'), step('b', { depends_on: ['a'], ...extra })];
  return [
    p('a condition calling a function', after({ when: 'process.exit(1)' }), invalid([422], 'when')),
    p(
      'a condition reaching a constructor',
      after({ when: 'steps.a.output.constructor.constructor("x")()' }),
      invalid([422], 'when'),
    ),
    p(
      'a condition nested 10,000 deep',
      after({ when: '('.repeat(10_000) }),
      invalid([422], 'when'),
    ),
    p('a condition with ===', after({ when: 'steps.a.status === "x"' }), invalid([422], 'when')),
    p(
      'a template of a step not upstream',
      [step('a'), step('b', { steps: [{ run: 'echo {{steps.a.output.x}}' }] })],
      invalid([422], 'run'),
    ),
    p(
      'a template of an unknown step',
      after({ steps: [{ run: 'echo {{steps.ghost.status}}' }] }),
      invalid([422], 'run'),
    ),
    p(
      'an unterminated template',
      after({ steps: [{ run: 'echo {{steps.a.output.x' }] }),
      invalid([422], 'run'),
    ),
    p(
      'a template reading __proto__ (valid: it reads as missing when run)',
      after({ steps: [{ run: 'echo "{{steps.a.output.__proto__}}"' }] }),
      valid(201),
    ),
    p(
      'workspace_from a task not depended on',
      [step('a'), step('b', { workspace_from: 'a' })],
      invalid([422], 'workspace_from'),
    ),
    body(
      'graph',
      'phases and tasks together',
      { title: 'x', tasks: [nopTask('a')], phases: [{ name: 'p', tasks: [nopTask('b')] }] },
      invalid([422]),
    ),
  ];
}

/** Every document and pipeline case. */
export function documentCorpus(): Case[] {
  return [...documents(), ...pipelines()];
}
