import { execFileSync } from 'node:child_process';
import {
  CONDITION_LIMITS,
  conditionRefs,
  describeRef,
  evaluateCondition,
  formatParseFailure,
  hasTemplates,
  parseCondition,
  parseRef,
  parseTemplate,
  renderTemplate,
  resolveRef,
  templateRefs,
  type RenderMode,
  type StepFacts,
  type StepRef,
} from './expressions';

const ref = (step: string, kind: 'status' | 'output', ...path: string[]): StepRef => ({
  step,
  kind,
  path,
});

const FACTS: StepFacts = new Map([
  [
    'lint',
    {
      status: 'SUCCEEDED',
      output: {
        error_count: 3,
        name: 'eslint',
        passed: false,
        ratio: 0.25,
        items: ['a', 'b'],
        nested: { list: [{ id: 7 }] },
        nothing: null,
        path: 'C:\\tmp',
        'kebab-key': 'yes',
      },
    },
  ],
  ['build', { status: 'FAILED', output: { items: ['a', 'b'], same: { x: 1, y: [2] } } }],
  ['copy', { status: 'SUCCEEDED', output: { same: { x: 1, y: [2] }, other: { y: [2], x: 1 } } }],
  ['skipped', { status: 'SKIPPED', output: null }],
]);

/** Facts with one step `evil` whose output field `v` holds `value`. */
const evil = (value: unknown): StepFacts =>
  new Map([['evil', { status: 'SUCCEEDED', output: { v: value } }]]);

function resolved(r: StepRef, facts: StepFacts = FACTS): unknown {
  const result = resolveRef(r, facts);
  if (!result.ok) throw new Error(`expected a value, got: ${result.message}`);
  return result.value;
}

function resolveError(r: StepRef, facts: StepFacts = FACTS): string {
  const result = resolveRef(r, facts);
  if (result.ok) throw new Error(`expected an error, got ${JSON.stringify(result.value)}`);
  return result.message;
}

function templateError(text: string): string {
  const parsed = parseTemplate(text);
  if (parsed.ok) throw new Error(`expected a template error, got ${JSON.stringify(parsed.parts)}`);
  return formatParseFailure(parsed);
}

function render(text: string, mode: RenderMode, facts: StepFacts = FACTS): string {
  const parsed = parseTemplate(text);
  if (!parsed.ok) throw new Error(`expected a template, got ${formatParseFailure(parsed)}`);
  const rendered = renderTemplate(parsed.parts, facts, mode);
  if (!rendered.ok) throw new Error(`expected a rendering, got: ${rendered.message}`);
  return rendered.text;
}

function renderError(text: string, mode: RenderMode, facts: StepFacts = FACTS): string {
  const parsed = parseTemplate(text);
  if (!parsed.ok) throw new Error(`expected a template, got ${formatParseFailure(parsed)}`);
  const rendered = renderTemplate(parsed.parts, facts, mode);
  if (rendered.ok) throw new Error(`expected a rendering error, got ${rendered.text}`);
  return rendered.message;
}

/**
 * Runs a command rendered in shell mode with /bin/sh, its bindings in the
 * environment, and returns what it printed: what a runner's shell would do.
 */
function runShell(text: string, facts: StepFacts = FACTS): string {
  const parsed = parseTemplate(text);
  if (!parsed.ok) throw new Error(`expected a template, got ${formatParseFailure(parsed)}`);
  const bindings = new Map<string, string>();
  const rendered = renderTemplate(parsed.parts, facts, 'shell', bindings);
  if (!rendered.ok) throw new Error(`expected a rendering, got: ${rendered.message}`);
  return execFileSync('/bin/sh', ['-c', rendered.text], {
    env: { PATH: process.env.PATH, ...Object.fromEntries(bindings) },
    encoding: 'utf8',
  });
}

function evaluate(text: string, facts: StepFacts = FACTS): boolean {
  const parsed = parseCondition(text);
  if (!parsed.ok) throw new Error(`expected a condition, got ${formatParseFailure(parsed)}`);
  const result = evaluateCondition(parsed.condition, facts);
  if (!result.ok) throw new Error(`expected a value, got: ${result.message}`);
  return result.value;
}

function evaluationError(text: string, facts: StepFacts = FACTS): string {
  const parsed = parseCondition(text);
  if (!parsed.ok) throw new Error(`expected a condition, got ${formatParseFailure(parsed)}`);
  const result = evaluateCondition(parsed.condition, facts);
  if (result.ok) throw new Error(`expected an evaluation error, got ${result.value}`);
  return result.message;
}

function conditionError(text: string): string {
  const parsed = parseCondition(text);
  if (parsed.ok) throw new Error(`expected a parse error for ${text}`);
  return formatParseFailure(parsed);
}

describe(parseRef.name, () => {
  it.each([
    ['steps.lint.status', ref('lint', 'status')],
    ['steps.lint.output', ref('lint', 'output')],
    ['steps.lint.output.error_count', ref('lint', 'output', 'error_count')],
    ['steps.a-b_c9.output.list.0.Name-x', ref('a-b_c9', 'output', 'list', '0', 'Name-x')],
    ['steps.9.output._private.12', ref('9', 'output', '_private', '12')],
  ])('reads %s and writes it back the same', (text, expected) => {
    expect(parseRef(text)).toEqual({ ok: true, ref: expected });
    expect(describeRef(expected)).toBe(text);
  });

  it('accepts a 63-character key and rejects a 64-character one', () => {
    expect(parseRef(`steps.${'k'.repeat(63)}.status`).ok).toBe(true);
    expect(parseRef(`steps.${'k'.repeat(64)}.status`).ok).toBe(false);
  });

  it.each([
    'steps',
    'steps.',
    'steps.lint',
    'steps.lint.',
    'steps.lint.outputs',
    'steps.lint.result',
    'steps.lint.status.code',
    'steps.lint.output.',
    'steps.lint.output..x',
    'steps.lint.output.01',
    'steps.lint.output.1x',
    'step.lint.status',
    'Steps.lint.status',
  ])('rejects %s with the shape a reference must have', (text) => {
    expect(parseRef(text)).toEqual({
      ok: false,
      message: `${JSON.stringify(text)} is not a reference: expected steps.<key>.output[.<field>...], steps.<key>.status or steps.<key>.error`,
    });
  });

  it.each(['steps.X.status', 'steps.-lint.status', 'steps._lint.output'])(
    'rejects %s naming the bad key',
    (text) => {
      const result = parseRef(text);
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.message).toMatch(/is not a step key/);
    },
  );
});

describe(resolveRef.name, () => {
  it('gives the status of a finished step', () => {
    expect(resolved(ref('build', 'status'))).toBe('FAILED');
  });

  it('gives the whole output, a field, a nested field and an array element', () => {
    expect(resolved(ref('lint', 'output', 'error_count'))).toBe(3);
    expect(resolved(ref('build', 'output'))).toEqual({ items: ['a', 'b'], same: { x: 1, y: [2] } });
    expect(resolved(ref('lint', 'output', 'items', '1'))).toBe('b');
    expect(resolved(ref('lint', 'output', 'nested', 'list', '0', 'id'))).toBe(7);
    expect(resolved(ref('lint', 'output', 'nothing'))).toBeNull();
    expect(resolved(ref('lint', 'output', 'kebab-key'))).toBe('yes');
  });

  it('says a step that is not in the facts has not run', () => {
    expect(resolveError(ref('deploy', 'status'))).toBe('steps.deploy has not run');
    expect(resolveError(ref('deploy', 'output', 'x'))).toBe('steps.deploy has not run');
  });

  it('says a step without output has none, naming how it ended', () => {
    expect(resolveError(ref('skipped', 'output', 'x'))).toBe(
      'steps.skipped has no output (it ended SKIPPED)',
    );
    expect(resolved(ref('skipped', 'status'))).toBe('SKIPPED');
  });

  it('names the full reference and the missing field', () => {
    expect(resolveError(ref('lint', 'output', 'errors'))).toBe(
      `steps.lint.output.errors: lint's output has no "errors"`,
    );
    expect(resolveError(ref('lint', 'output', 'nested', 'lists', '0'))).toBe(
      `steps.lint.output.nested.lists.0: lint's output.nested has no "lists"`,
    );
  });

  it('reports an index past the end of an array and a field asked of an array', () => {
    expect(resolveError(ref('lint', 'output', 'items', '2'))).toBe(
      `steps.lint.output.items.2: lint's output.items has no "2" (an array of 2 items)`,
    );
    expect(resolveError(ref('lint', 'output', 'items', 'length'))).toBe(
      `steps.lint.output.items.length: lint's output.items has no "length" (an array of 2 items)`,
    );
  });

  it('reports a field asked of a string, a number or null', () => {
    expect(resolveError(ref('lint', 'output', 'name', 'length'))).toBe(
      `steps.lint.output.name.length: lint's output.name has no "length" (it is a string)`,
    );
    expect(resolveError(ref('lint', 'output', 'error_count', '0'))).toMatch(/\(it is a number\)$/);
    expect(resolveError(ref('lint', 'output', 'nothing', 'x'))).toMatch(/\(it is null\)$/);
  });

  it.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'])(
    'does not find the inherited %s',
    (name) => {
      expect(resolveError(ref('lint', 'output', name))).toBe(
        `steps.lint.output.${name}: lint's output has no "${name}"`,
      );
      expect(resolveError(ref('lint', 'output', 'nested', name, 'x'))).toMatch(/has no/);
    },
  );

  it('does not find a field an object only inherits', () => {
    const output = Object.create({ inherited: 1 }) as Record<string, unknown>;
    const facts: StepFacts = new Map([['p', { status: 'SUCCEEDED', output }]]);
    expect(resolveError(ref('p', 'output', 'inherited'), facts)).toMatch(/has no "inherited"/);
  });

  it('finds an own "__proto__" field as JSON.parse writes it, not the prototype', () => {
    const output = JSON.parse('{"__proto__": {"x": 1}}') as Record<string, unknown>;
    const facts: StepFacts = new Map([['j', { status: 'SUCCEEDED', output }]]);
    expect(resolved(ref('j', 'output', '__proto__', 'x'), facts)).toBe(1);
  });

  it('does not run getters', () => {
    const getter = jest.fn(() => 'secret');
    const output = Object.defineProperty({}, 'field', { get: getter, enumerable: true });
    const facts: StepFacts = new Map([['g', { status: 'SUCCEEDED', output }]]);
    expect(resolveError(ref('g', 'output', 'field'), facts)).toMatch(/has no "field"/);
    expect(getter).not.toHaveBeenCalled();
  });
});

describe(hasTemplates.name, () => {
  it.each([
    '{{steps.lint.status}}',
    'echo {{ steps.lint.output.x }}',
    '{{ \t steps.a.status }}',
    '{{ steps.bad',
  ])('is true for %j', (text) => {
    expect(hasTemplates(text)).toBe(true);
  });

  it.each([
    '',
    'plain text',
    '{{ .Values.image }}',
    '{{ steps }}',
    '{{ step.lint.status }}',
    '${{ x }}',
    '${{ steps.build.outputs.tag }}',
    'steps.lint.status',
    '{ { steps.lint.status } }',
  ])('is false for %j', (text) => {
    expect(hasTemplates(text)).toBe(false);
  });
});

describe(parseTemplate.name, () => {
  it('splits text into literal parts and references', () => {
    expect(
      parseTemplate('Fix {{ steps.lint.output.error_count }} errors in {{steps.a.status}}.'),
    ).toEqual({
      ok: true,
      parts: ['Fix ', ref('lint', 'output', 'error_count'), ' errors in ', ref('a', 'status'), '.'],
    });
  });

  it('keeps a text without templates as one part, and an empty text as none', () => {
    expect(parseTemplate('make test')).toEqual({ ok: true, parts: ['make test'] });
    expect(parseTemplate('')).toEqual({ ok: true, parts: [] });
  });

  it('reads adjacent templates and blanks of any width inside the braces', () => {
    expect(parseTemplate('{{steps.a.status}}{{ \t steps.b.output.x\t}}')).toEqual({
      ok: true,
      parts: [ref('a', 'status'), ref('b', 'output', 'x')],
    });
  });

  it('keeps Helm, Go, GitHub Actions and other braces as literal text', () => {
    const text =
      'helm --set a={{ .Values.x }} {{ range .Items }} ${{ x }} ${{ steps.build.outputs.tag }} {{ steps }} {{}}';
    expect(parseTemplate(text)).toEqual({ ok: true, parts: [text] });
  });

  it('reads a template inside extra braces, keeping the outer ones as text', () => {
    expect(parseTemplate('{{{ steps.a.status }}}')).toEqual({
      ok: true,
      parts: ['{', ref('a', 'status'), '}'],
    });
  });

  it.each([
    ['{{ steps.lint.status', 'at 20: unterminated template: expected "}}"'],
    ['{{ steps.lint.status }', 'at 21: expected "}}" after steps.lint.status, found "}"'],
    ['{{ steps.a.status | upper }}', 'at 18: expected "}}" after steps.a.status, found "|"'],
    [
      'x {{ steps.lint.outputs }}',
      'at 5: "steps.lint.outputs" is not a reference: expected steps.<key>.output[.<field>...], steps.<key>.status or steps.<key>.error',
    ],
    [
      '{{ steps. }}',
      'at 3: "steps." is not a reference: expected steps.<key>.output[.<field>...], steps.<key>.status or steps.<key>.error',
    ],
    [
      '{{steps.x.output.}}',
      'at 2: "steps.x.output." is not a reference: expected steps.<key>.output[.<field>...], steps.<key>.status or steps.<key>.error',
    ],
    [
      '{{ steps.X.status }}',
      'at 3: "steps.X.status" is not a reference: "X" is not a step key (a-z, 0-9, "_", "-")',
    ],
    [
      '{{ steps.lint.output.items[0] }}',
      'at 26: expected "}}" after steps.lint.output.items, found "[" (write an array index as .0)',
    ],
  ])('rejects %j', (text, message) => {
    expect(templateError(text)).toBe(message);
  });

  it('reports the first bad template after good ones', () => {
    expect(templateError('{{ steps.a.status }} and {{ steps.b.stat }}')).toMatch(/^at 28: /);
  });
});

describe(templateRefs.name, () => {
  it('lists the references in order, repeats included', () => {
    expect(templateRefs('{{steps.b.status}} {{ steps.a.output.x.0 }} {{steps.b.status}}')).toEqual({
      ok: true,
      refs: [ref('b', 'status'), ref('a', 'output', 'x', '0'), ref('b', 'status')],
    });
    expect(templateRefs('{{ .Values }}')).toEqual({ ok: true, refs: [] });
  });

  it('passes on a parse error', () => {
    expect(templateRefs('{{ steps.a')).toMatchObject({ ok: false, index: 3 });
  });
});

describe(renderTemplate.name, () => {
  it('writes values raw in text mode: strings as they are, the rest as compact JSON', () => {
    const text =
      '{{steps.lint.output.name}}|{{steps.lint.output.error_count}}|{{steps.lint.output.ratio}}|' +
      '{{steps.lint.output.passed}}|{{steps.lint.output.nothing}}|{{steps.lint.output.items}}|' +
      '{{steps.lint.output.nested}}|{{steps.lint.status}}';
    expect(render(text, 'text')).toBe(
      'eslint|3|0.25|false|null|["a","b"]|{"list":[{"id":7}]}|SUCCEEDED',
    );
  });

  it('leaves the literal text around templates as it is in both modes', () => {
    const text = `helm {{ .Values.x }} \${{ x }} '{{steps.lint.status}}' $HOME`;
    expect(render(text, 'text')).toBe(`helm {{ .Values.x }} \${{ x }} 'SUCCEEDED' $HOME`);
    expect(render('echo $HOME {{ .Values }}', 'shell')).toBe('echo $HOME {{ .Values }}');
  });

  it('hands each value to commands as a variable, never as shell text', () => {
    expect(render('exit {{steps.lint.output.error_count}}', 'shell')).toBe(
      'exit ${DROVER_STEP_LINT_OUTPUT_ERROR_COUNT}',
    );
    const bindings = new Map<string, string>();
    const parsed = parseTemplate('{{steps.lint.output.items}} {{ steps.lint.output.items }}');
    if (!parsed.ok) throw new Error('no template');
    expect(renderTemplate(parsed.parts, FACTS, 'shell', bindings)).toEqual({
      ok: true,
      text: '${DROVER_STEP_LINT_OUTPUT_ITEMS} ${DROVER_STEP_LINT_OUTPUT_ITEMS}',
    });
    expect(Object.fromEntries(bindings)).toEqual({ DROVER_STEP_LINT_OUTPUT_ITEMS: '["a","b"]' });
  });

  it('writes hostile values raw in text mode', () => {
    expect(render('say {{steps.evil.output.v}}', 'text', evil('$(rm -rf /)'))).toBe(
      'say $(rm -rf /)',
    );
  });

  it.each([
    '"; rm -rf /"',
    '; rm -rf /',
    '$(echo pwned)',
    '`echo pwned`',
    "it's",
    "'; echo pwned #",
    "\\'; echo pwned; echo '",
    "'''",
    'a\nb; echo pwned',
    'tab\there',
    '$HOME ${PATH} * ? ~ #',
    ' leading and trailing ',
    '\\',
    '"double" & | > < ( )',
  ])('keeps %j inert wherever the template stands in the command', (value) => {
    const facts = evil(value);
    const ref = '{{ steps.evil.output.v }}';
    // Inside double quotes, bare, inside single quotes, after a backslash, in a heredoc.
    expect(runShell(`printf '%s|' "${ref}" done`, facts)).toBe(`${value}|done|`);
    expect(runShell(`printf '%s|' "got ${ref} here"`, facts)).toBe(`got ${value} here|`);
    // Bare it is split like any unquoted variable, and still never run.
    expect(runShell(`printf '%s|' ${ref} >/dev/null; echo ok`, facts)).toBe('ok\n');
    expect(runShell(`printf '%s|' 'got ${ref}'`, facts)).toBe('got ${DROVER_STEP_EVIL_OUTPUT_V}|');
    expect(runShell(`printf '%s|' \\${ref}`, facts)).toBe('${DROVER_STEP_EVIL_OUTPUT_V}|');
    expect(runShell(`cat <<EOF\n${ref}\nEOF`, facts)).toBe(`${value}\n`);
  });

  it('keeps JSON text of objects one word in double quotes', () => {
    const value = { cmd: "x'; echo pwned", list: ['$(echo pwned)'] };
    expect(runShell(`printf '%s|' "{{ steps.evil.output.v }}"`, evil(value))).toBe(
      `${JSON.stringify(value)}|`,
    );
  });

  it('names two refs that read the same apart', () => {
    const facts: StepFacts = new Map([
      ['a-b', { status: 'SUCCEEDED', output: { x: '1' } }],
      ['a_b', { status: 'SUCCEEDED', output: { x: '2' } }],
    ]);
    expect(runShell(`printf '%s|' {{steps.a-b.output.x}} {{steps.a_b.output.x}}`, facts)).toBe(
      '1|2|',
    );
  });

  it('refuses a NUL character in shell mode but not in text mode', () => {
    expect(renderError('echo {{steps.evil.output.v}}', 'shell', evil('a\0b'))).toBe(
      'steps.evil.output.v holds a NUL character',
    );
    expect(render('{{steps.evil.output.v}}', 'text', evil('a\0b'))).toBe('a\0b');
  });

  it('fails on a step that has not run, has no output, or lacks the field', () => {
    expect(renderError('{{steps.deploy.status}}', 'text')).toBe('steps.deploy has not run');
    expect(renderError('{{steps.skipped.output.x}}', 'shell')).toBe(
      'steps.skipped has no output (it ended SKIPPED)',
    );
    expect(renderError('{{steps.lint.output.constructor}}', 'text')).toBe(
      `steps.lint.output.constructor: lint's output has no "constructor"`,
    );
  });

  it('fails on a value that JSON cannot hold', () => {
    expect(renderError('{{steps.evil.output.v}}', 'text', evil(undefined))).toBe(
      'steps.evil.output.v is not a JSON value',
    );
  });
});

describe(parseCondition.name, () => {
  it('keeps the source and lists the references in reading order', () => {
    const text =
      'steps.b.status == "FAILED" or {{ steps.a.output.n }} > 0 and steps.b.status != "X"';
    const parsed = parseCondition(text);
    if (!parsed.ok) throw new Error(formatParseFailure(parsed));
    expect(parsed.condition.source).toBe(text);
    expect(parsed.condition.refs).toEqual([
      ref('b', 'status'),
      ref('a', 'output', 'n'),
      ref('b', 'status'),
    ]);
    expect(conditionRefs(text)).toEqual({ ok: true, refs: parsed.condition.refs });
  });

  it('builds and over or, with spans into the source', () => {
    const parsed = parseCondition('true or false and (true)');
    if (!parsed.ok) throw new Error(formatParseFailure(parsed));
    expect(parsed.condition.ast).toMatchObject({
      type: 'or',
      start: 0,
      end: 24,
      left: { type: 'literal', value: true },
      right: {
        type: 'and',
        start: 8,
        left: { type: 'literal', value: false },
        right: { type: 'literal', value: true, start: 18, end: 24 },
      },
    });
  });

  it.each([
    ['', 'at 0: expected an operand, found end of expression'],
    ['   ', 'at 3: expected an operand, found end of expression'],
    ['steps.a.status and', 'at 18: expected an operand after "and", found end of expression'],
    [
      'true && steps.lint.output.x and',
      'at 31: expected an operand after "and", found end of expression',
    ],
    ['not', 'at 3: expected an operand after "not", found end of expression'],
    ['true == ', 'at 8: expected an operand after "==", found end of expression'],
    ['()', 'at 1: expected an operand after "(", found ")"'],
    ['and true', 'at 0: expected an operand, found "and"'],
    ['tru AND false', 'at 0: "tru" is not a reference or a value'],
    ['true AND false', 'at 5: unknown word "AND" (use and, or, not)'],
    ['true Or false', 'at 5: unknown word "Or" (use and, or, not)'],
    ['NOT true', 'at 0: unknown word "NOT" (use and, or, not)'],
    ['True', 'at 0: unknown word "True" (use true, false, null)'],
    ['steps.a.status == NULL', 'at 18: unknown word "NULL" (use true, false, null)'],
    ['process.exit(1)', 'at 0: "process.exit(1)" is not a reference or a value'],
    ['foo()', 'at 0: "foo()" is not a reference or a value'],
    ['(foo)', 'at 1: "foo" is not a reference or a value'],
    [
      'constructor.constructor("x")()',
      'at 0: "constructor.constructor(\\"x\\")()" is not a reference or a value',
    ],
    ['__proto__', 'at 0: "__proto__" is not a reference or a value'],
    ['this', 'at 0: "this" is not a reference or a value'],
    ['true()', 'at 4: "true" is not a function: conditions have no calls'],
    [
      'steps.lint.status() == "x"',
      'at 17: "steps.lint.status" is not a function: conditions have no calls',
    ],
    ['(true)(false)', 'at 6: "(true)" is not a function: conditions have no calls'],
    [
      'steps.lint.outputs > 0',
      'at 0: "steps.lint.outputs" is not a reference: expected steps.<key>.output[.<field>...], steps.<key>.status or steps.<key>.error',
    ],
    [
      'steps == 1',
      'at 0: "steps" is not a reference: expected steps.<key>.output[.<field>...], steps.<key>.status or steps.<key>.error',
    ],
    ['steps.lint.status = "x"', 'at 18: unknown operator "=" (use == to compare)'],
    ['steps.lint.status === "x"', 'at 18: unknown operator "===" (use ==)'],
    ['steps.lint.status !== "x"', 'at 18: unknown operator "!==" (use !=)'],
    ['true & false', 'at 5: unknown operator "&" (use and or &&)'],
    ['true | false', 'at 5: unknown operator "|" (use or or ||)'],
    ['1 < 2 < 3', 'at 6: comparisons cannot be chained: join them with and'],
    ['1 == 1 == true', 'at 7: comparisons cannot be chained: join them with and'],
    ['(true', 'at 5: expected ")" to close the "(" at 0, found end of expression'],
    ['(true false)', 'at 6: expected ")" to close the "(" at 0, found "false"'],
    ['true)', 'at 4: unmatched ")"'],
    ['true false', 'at 5: expected and, or, a comparison or the end, found "false"'],
    ['"a" "b"', 'at 4: expected and, or, a comparison or the end, found "\\"b\\""'],
    ['"abc', 'at 0: unterminated string: expected a closing "'],
    ["steps.a.status == 'abc", "at 18: unterminated string: expected a closing '"],
    ['"abc\\"', 'at 0: unterminated string: expected a closing "'],
    ['"a\\qb" == "x"', 'at 2: unknown escape \\q (use \\\\, \\", \\\', \\n or \\t)'],
    ['{{ 1 }} > 0', 'at 3: expected a reference after "{{", found "1"'],
    ['{{ steps.a.output.n > 0', 'at 20: expected "}}" after steps.a.output.n, found ">"'],
    ['}} == 1', 'at 0: expected an operand, found "}}"'],
    ['{ steps.a.status }', 'at 0: unexpected character "{"'],
    ['1abc == 1', 'at 0: "1abc" is not a number'],
    ['1. == 1', 'at 0: "1." is not a number'],
    ['.5 == 0.5', 'at 0: unexpected character "."'],
    ['- 1 == -1', 'at 0: unexpected character "-"'],
    ['1e999 > 0', 'at 0: 1e999 is too large'],
    ['steps.a.status == "x"; rm -rf /', 'at 21: unexpected character ";"'],
    ['$(id) == 1', 'at 0: unexpected character "$"'],
    ['`id` == 1', 'at 0: unexpected character "`"'],
    ['steps.a.output.items[0] == 1', 'at 20: unexpected character "["'],
    ['# comment', 'at 0: unexpected character "#"'],
  ])('rejects %j', (text, message) => {
    expect(conditionError(text)).toBe(message);
  });

  it('passes a parse error on through conditionRefs', () => {
    expect(conditionRefs('steps.a.status = 1')).toEqual({
      ok: false,
      index: 15,
      message: 'unknown operator "=" (use == to compare)',
    });
  });

  describe('limits', () => {
    const { length, depth, tokens } = CONDITION_LIMITS;

    it('accepts a condition of exactly the maximum length and rejects a longer one', () => {
      const exact = `"${'x'.repeat(length - 8)}" != ""`;
      expect(exact).toHaveLength(length);
      expect(evaluate(exact)).toBe(true);
      expect(conditionError(`${exact} `)).toBe(
        `at ${length}: the condition is longer than ${length} characters (2001)`,
      );
      expect(conditionError(`${exact}x`)).toMatch(
        new RegExp(`^at ${length}: the condition is longer than`),
      );
    });

    it('rejects a very long input quickly, without reading it all as tokens', () => {
      const huge = `steps.a.output.${'x.'.repeat(500_000)}x == 1`;
      expect(conditionError(huge)).toBe(
        `at ${length}: the condition is longer than ${length} characters (${huge.length})`,
      );
      const manyClauses = 'true and '.repeat(100_000) + 'true';
      expect(conditionError(manyClauses)).toMatch(
        /^at 2000: the condition is longer than 2000 characters/,
      );
    });

    it(`accepts ${depth} levels of parentheses and rejects ${depth + 1}`, () => {
      expect(evaluate(`${'('.repeat(depth)}true${')'.repeat(depth)}`)).toBe(true);
      expect(conditionError(`${'('.repeat(depth + 1)}true${')'.repeat(depth + 1)}`)).toBe(
        `at ${depth}: nested deeper than ${depth} (parentheses and not)`,
      );
    });

    it(`accepts a chain of ${depth} nots and rejects ${depth + 1}`, () => {
      expect(evaluate(`${'not '.repeat(depth)}true`)).toBe(true);
      expect(evaluate(`${'!'.repeat(depth - 1)}true`)).toBe(false);
      expect(conditionError(`${'not '.repeat(depth + 1)}true`)).toBe(
        `at ${4 * depth}: nested deeper than ${depth} (parentheses and not)`,
      );
    });

    it('counts parentheses and nots together', () => {
      expect(conditionError(`${'(not '.repeat(17)}true${')'.repeat(17)}`)).toMatch(
        /nested deeper than 32/,
      );
      expect(evaluate(`${'(not '.repeat(16)}true${')'.repeat(16)}`)).toBe(true);
    });

    it('fails 10,000 nested parentheses on depth, not with a stack overflow', () => {
      const text = `${'('.repeat(10_000)}true${')'.repeat(10_000)}`;
      expect(parseCondition(text)).toEqual({
        ok: false,
        index: depth,
        message: `nested deeper than ${depth} (parentheses and not)`,
      });
      expect(parseCondition('!'.repeat(10_000) + 'true')).toMatchObject({
        ok: false,
        index: depth,
      });
    });

    it(`accepts ${tokens - 1} tokens and rejects more than ${tokens}`, () => {
      // Each `1==1` is 3 tokens and each `&&` one more: k clauses make 4k - 1 tokens.
      const clauses = (k: number) => Array.from({ length: k }, () => '1==1').join('&&');
      expect(evaluate(clauses(125))).toBe(true);
      expect(parseCondition(clauses(126))).toEqual({
        ok: false,
        index: 6 * 125,
        message: `more than ${tokens} tokens`,
      });
    });
  });
});

describe(evaluateCondition.name, () => {
  it.each([
    ['true', true],
    ['false', false],
    ['null == null', true],
    ['1 == 1', true],
    ['-1 < 0', true],
    ['-0 == 0', true],
    ['1.5 > 1.25', true],
    ['0.1 == 0.10', true],
    ['1e3 == 1000', true],
    ['-2.5e-1 == -0.25', true],
    ['2E+2 == 200', true],
    ['10 > 9', true],
    ['"10" < "9"', true],
    ['"abc" < "abd"', true],
    ['"B" < "a"', true],
  ])('evaluates %s to %s', (text, expected) => {
    expect(evaluate(text)).toBe(expected);
  });

  it.each([
    ['==', [false, true, false]],
    ['!=', [true, false, true]],
    ['<', [true, false, false]],
    ['<=', [true, true, false]],
    ['>', [false, false, true]],
    ['>=', [false, true, true]],
  ] as const)('compares numbers and strings with %s', (op, [less, equal, more]) => {
    expect(evaluate(`steps.lint.output.error_count ${op} 4`)).toBe(less);
    expect(evaluate(`steps.lint.output.error_count ${op} 3`)).toBe(equal);
    expect(evaluate(`steps.lint.output.error_count ${op} 2`)).toBe(more);
    expect(evaluate(`"b" ${op} "c"`)).toBe(less);
    expect(evaluate(`'b' ${op} "b"`)).toBe(equal);
    expect(evaluate(`"b"${op}"a"`)).toBe(more);
  });

  it('reads string escapes', () => {
    expect(evaluate(`"a\\"b" == 'a"b'`)).toBe(true);
    expect(evaluate(`'it\\'s' == "it's"`)).toBe(true);
    expect(evaluate(`steps.lint.output.path == "C:\\\\tmp"`)).toBe(true);
    expect(evaluate(`steps.evil.output.v == "a\\nb\\tc"`, evil('a\nb\tc'))).toBe(true);
    expect(evaluate(`steps.evil.output.v == 'a\\\\nb'`, evil('a\\nb'))).toBe(true);
  });

  it('compares without coercion', () => {
    expect(evaluate('1 == "1"')).toBe(false);
    expect(evaluate('true == 1')).toBe(false);
    expect(evaluate('null == false')).toBe(false);
    expect(evaluate('"" == false')).toBe(false);
    expect(evaluate('1 != "1"')).toBe(true);
    expect(evaluate('steps.lint.output.nothing == null')).toBe(true);
    expect(evaluate('steps.lint.output.passed == false')).toBe(true);
  });

  it('compares arrays and objects by their JSON text', () => {
    expect(evaluate('steps.lint.output.items == steps.build.output.items')).toBe(true);
    expect(evaluate('steps.build.output.same == steps.copy.output.same')).toBe(true);
    expect(evaluate('steps.build.output.same != steps.copy.output.other')).toBe(true);
    expect(evaluate('steps.lint.output.items == "[\\"a\\",\\"b\\"]"')).toBe(false);
  });

  it('binds and tighter than or, and not tighter than both', () => {
    expect(evaluate('true or true and false')).toBe(true);
    expect(evaluate('(true or true) and false')).toBe(false);
    expect(evaluate('false and true or true')).toBe(true);
    expect(evaluate('false and (true or true)')).toBe(false);
    expect(evaluate('not false and false')).toBe(false);
    expect(evaluate('not (false and false)')).toBe(true);
    expect(evaluate('not 1 == 2')).toBe(true);
    expect(evaluate('not not true')).toBe(true);
  });

  it('treats &&, || and ! as and, or and not', () => {
    expect(evaluate('true || true && false')).toBe(true);
    expect(evaluate('!false && !(1 == 2)')).toBe(true);
    expect(evaluate('!true||false')).toBe(false);
    expect(evaluate('1!=2')).toBe(true);
    expect(evaluate('!(1!=2)')).toBe(false);
  });

  it('reads statuses and outputs, and the older {{ }} form', () => {
    expect(evaluate('steps.build.status == "FAILED" and steps.lint.status == "SUCCEEDED"')).toBe(
      true,
    );
    expect(evaluate('{{steps.lint.output.error_count}} > 0')).toBe(true);
    expect(
      evaluate('{{ steps.lint.output.error_count }}>=3 and {{steps.lint.status}} != "x"'),
    ).toBe(true);
    expect(evaluate('steps.lint.output.nested.list.0.id == 7')).toBe(true);
    expect(evaluate('steps.lint.output.kebab-key == "yes"')).toBe(true);
    expect(evaluate('steps.lint.output.passed or steps.lint.output.ratio < 0.5')).toBe(true);
  });

  it('is the example from the task contract', () => {
    const text = 'steps.lint.output.error_count > 0 and not (steps.lint.status == "FAILED")';
    expect(evaluate(text)).toBe(true);
  });

  it('short-circuits: an operand that cannot matter is not resolved', () => {
    expect(evaluate('false and steps.deploy.status == "x"')).toBe(false);
    expect(evaluate('true or steps.deploy.output.x')).toBe(true);
    expect(evaluationError('true and steps.deploy.status == "x"')).toBe('steps.deploy has not run');
    expect(evaluationError('false or steps.deploy.status == "x"')).toBe('steps.deploy has not run');
  });

  it('fails on missing steps, outputs and fields, inherited ones included', () => {
    expect(evaluationError('steps.skipped.output.x == 1')).toBe(
      'steps.skipped has no output (it ended SKIPPED)',
    );
    expect(evaluationError('steps.lint.output.errors > 0')).toBe(
      `steps.lint.output.errors: lint's output has no "errors"`,
    );
    expect(evaluationError('steps.lint.output.__proto__ == null')).toBe(
      `steps.lint.output.__proto__: lint's output has no "__proto__"`,
    );
    expect(evaluationError('steps.lint.output.constructor.name == "Object"')).toBe(
      `steps.lint.output.constructor.name: lint's output has no "constructor"`,
    );
    expect(evaluationError('steps.lint.output.items.9 == "a"')).toMatch(/has no "9"/);
  });

  it.each([
    [
      'steps.lint.output.error_count > "3"',
      'cannot compare number with string in steps.lint.output.error_count > "3"',
    ],
    ['null < 1', 'cannot compare null with number in null < 1'],
    ['true >= false', 'cannot compare boolean with boolean in true >= false'],
    [
      '(steps.lint.output.items) < steps.build.output.items',
      'cannot compare array with array in (steps.lint.output.items) < steps.build.output.items',
    ],
    [
      'steps.build.output.same > 1',
      'cannot compare object with number in steps.build.output.same > 1',
    ],
  ])('refuses to order %s', (text, message) => {
    expect(evaluationError(text)).toBe(message);
  });

  it.each([
    [
      'steps.lint.output.error_count',
      '"steps.lint.output.error_count" is a number, not true or false',
    ],
    [
      'steps.lint.output.error_count and true',
      '"steps.lint.output.error_count" is a number, not true or false',
    ],
    ['true and steps.lint.status', '"steps.lint.status" is a string, not true or false'],
    [
      'false or steps.lint.output.nothing',
      '"steps.lint.output.nothing" is null, not true or false',
    ],
    ['not steps.lint.output.items', '"steps.lint.output.items" is an array, not true or false'],
    [
      '!{{steps.lint.output.nested}}',
      '"{{steps.lint.output.nested}}" is an object, not true or false',
    ],
    ['"yes"', '"\\"yes\\"" is a string, not true or false'],
    ['(1)', '"(1)" is a number, not true or false'],
    ['null', '"null" is null, not true or false'],
  ])('refuses a non-boolean where a boolean is needed: %s', (text, message) => {
    expect(evaluationError(text)).toBe(message);
  });
});

describe(formatParseFailure.name, () => {
  it('puts the index first', () => {
    expect(formatParseFailure({ index: 14, message: 'expected x' })).toBe('at 14: expected x');
  });
});

describe('steps.<key>.error', () => {
  const facts: StepFacts = new Map([
    ['build', { status: 'FAILED', output: null, error: 'make exited with 2' }],
    ['lint', { status: 'SUCCEEDED', output: {} }],
  ]);

  it("reads a step's error message, null when it had none", () => {
    expect(render('why: {{steps.build.error}}', 'text', facts)).toBe('why: make exited with 2');
    expect(render('{{steps.lint.error}}', 'text', facts)).toBe('null');
    expect(evaluate('steps.build.error != null and steps.lint.error == null', facts)).toBe(true);
  });

  it('takes no path after error', () => {
    expect(parseRef('steps.build.error.code')).toMatchObject({ ok: false });
  });
});
