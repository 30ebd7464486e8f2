import { ErrorBody } from './error-body';
import { SubmitTicket, TaskInput } from './tickets';
import {
  DOCUMENT_LIMITS,
  parseTicketDocument,
  parseWorkOrder,
  ticketFormatOf,
  WORK_ORDER_FIELDS,
  type LocatedIssue,
  type ParsedTicket,
} from './work-order';

const lines = (...l: string[]) => `${l.join('\n')}\n`;

/** The issues of a parse that must have failed. */
function issuesOf(parsed: ParsedTicket): LocatedIssue[] {
  if (parsed.ok) throw new Error(`expected issues, got ${JSON.stringify(parsed.ticket)}`);
  return parsed.issues;
}

/** The ticket of a parse that must have succeeded. */
function ticketOf(parsed: ParsedTicket): SubmitTicket {
  if (!parsed.ok) throw new Error(`expected a ticket, got ${JSON.stringify(parsed.issues)}`);
  return parsed.ticket;
}

/** A work order: front matter lines, then the body. */
const workOrder = (front: string[], body = 'Make the tests pass.') =>
  lines('---', ...front, '---', body);

const CLI = ['title: Fix add', 'agent: claude-code'];
const REPO = 'https://git.example.com/team/calculator.git';

const FULL = lines(
  '---',
  'title: Fix add() so the tests pass',
  `repo: ${REPO}`,
  'clone_branch: main',
  'push_branch: drover/fix-add',
  'agent: claude-code',
  'model: claude-sonnet-4-5',
  'max_iterations: 3',
  'acceptance_commands:',
  '  - npm test',
  'allowed_paths: ["src/**", "test/**"]',
  'forbidden_paths: ["src/secrets/**"]',
  'context_files: [README.md]',
  'env:',
  '  CI: "1"',
  'priority: 5',
  'timeout: 30m',
  'labels: [bug, calculator]',
  '---',
  '',
  'The body (Markdown) is the task prompt.',
  '',
  '- keep `add` pure',
  '',
);

describe(parseWorkOrder.name, () => {
  it('turns a full work order into the ticket of one task, the body as its prompt', () => {
    expect(ticketOf(parseWorkOrder(FULL, 'orders/Fix add.md'))).toEqual({
      title: 'Fix add() so the tests pass',
      project: 'default',
      priority: 5,
      labels: ['bug', 'calculator'],
      tasks: [
        {
          key: 'fix-add',
          title: 'Fix add() so the tests pass',
          agent: 'claude-code',
          depends_on: [],
          repo: REPO,
          clone_branch: 'main',
          push_branch: 'drover/fix-add',
          model: 'claude-sonnet-4-5',
          prompt: 'The body (Markdown) is the task prompt.\n\n- keep `add` pure',
          acceptance_commands: ['npm test'],
          max_iterations: 3,
          allowed_paths: ['src/**', 'test/**'],
          forbidden_paths: ['src/secrets/**'],
          context_files: ['README.md'],
          env: { CI: '1' },
          timeout: '30m',
        },
      ],
    });
  });

  it('gives a ticket that SubmitTicket accepts again as it is', () => {
    const ticket = ticketOf(parseWorkOrder(FULL, 'fix.md'));
    expect(SubmitTicket.parse(ticket)).toEqual(ticket);
  });

  it.each([
    [undefined, 'work-order'],
    ['fix.md', 'fix'],
    ['Fix Add!.md', 'fix-add-'],
    ['orders/2024/Build_It.v2.md', 'build_it-v2'],
    ['C:\\orders\\Deploy.md', 'deploy'],
    ['Makefile', 'makefile'],
    ['.hidden.md', 'work-order'],
    ['_private.md', 'work-order'],
    ['ünïcode.md', 'work-order'],
    [`${'a'.repeat(100)}.md`, 'a'.repeat(63)],
  ])('derives the task key from the file name %j: %s', (name, key) => {
    expect(ticketOf(parseWorkOrder(workOrder(CLI), name)).tasks[0].key).toBe(key);
  });

  it('takes the key from the front matter over the file name', () => {
    const parsed = parseWorkOrder(workOrder([...CLI, 'key: my-task']), 'other.md');
    expect(ticketOf(parsed).tasks[0].key).toBe('my-task');
  });

  it('makes the body the description, not a prompt, for agents other than CLI agents', () => {
    const text = workOrder(
      ['title: Build', 'steps:', '  - run: make', `repo: ${REPO}`],
      '# Why\n\nThe nightly build.',
    );
    const ticket = ticketOf(parseWorkOrder(text, 'build.md'));
    expect(ticket.description).toBe('# Why\n\nThe nightly build.');
    expect(ticket.tasks[0]).toMatchObject({ agent: 'command', steps: [{ run: 'make' }] });
    expect(ticket.tasks[0]).not.toHaveProperty('prompt');
  });

  it('leaves the description out when a non-CLI body is empty', () => {
    const ticket = ticketOf(parseWorkOrder(workOrder(['title: t', 'agent: nop'], '  \n\n')));
    expect(ticket).not.toHaveProperty('description');
    expect(ticket.tasks[0].agent).toBe('nop');
  });

  it('takes the ticket fields project and budget_usd and the task fields of the sandbox', () => {
    const text = workOrder([
      ...CLI,
      'project: team-a',
      'budget_usd: 2.5',
      'image: registry.example.com/agents/node:20',
      'network: true',
      'resources: {memory_mb: 2048, cpus: 1.5}',
      'retry: {max_attempts: 2}',
      'timeout_seconds: 600',
      'requires_approval: true',
      'approval_timeout: 24h',
    ]);
    const ticket = ticketOf(parseWorkOrder(text));
    expect(ticket).toMatchObject({ project: 'team-a', budget_usd: 2.5 });
    expect(ticket.tasks[0]).toMatchObject({
      image: 'registry.example.com/agents/node:20',
      network: true,
      resources: { memory_mb: 2048, cpus: 1.5 },
      retry: { max_attempts: 2 },
      timeout_seconds: 600,
      requires_approval: true,
      approval_timeout: '24h',
    });
  });

  it('reads CRLF line endings and a leading byte order mark like plain LF', () => {
    const crlf = `\uFEFF${FULL.replace(/\n/g, '\r\n')}`;
    expect(ticketOf(parseWorkOrder(crlf, 'fix.md'))).toEqual(
      ticketOf(parseWorkOrder(FULL, 'fix.md')),
    );
    const bad = `\uFEFF${workOrder([...CLI, 'max_iterations: 0']).replace(/\n/g, '\r\n')}`;
    expect(issuesOf(parseWorkOrder(bad))).toEqual([
      {
        path: 'max_iterations',
        message: expect.stringMatching(/>=1/) as string,
        line: 4,
        column: 1,
      },
    ]);
  });

  it('reads a network policy from the front matter, and points at a bad host by line', () => {
    const allow = workOrder([
      ...CLI,
      'network:',
      '  allow:',
      '    - registry.npmjs.org',
      '    - "*.pypi.org"',
    ]);
    expect(ticketOf(parseWorkOrder(allow)).tasks[0].network).toEqual({
      allow: ['registry.npmjs.org', '*.pypi.org'],
    });
    expect(
      ticketOf(parseWorkOrder(workOrder([...CLI, 'network: provider']))).tasks[0].network,
    ).toBe('provider');
    const bad = workOrder([
      ...CLI,
      'network:',
      '  allow:',
      '    - registry.npmjs.org',
      '    - https://pypi.org',
    ]);
    expect(issuesOf(parseWorkOrder(bad))).toEqual([
      {
        path: 'network.allow.1',
        message:
          '"https://pypi.org" is not a host: give a name or address, no scheme, path or user',
        line: 7,
        column: 7,
      },
    ]);
    const command = workOrder(['title: t', 'steps: [{run: make}]', 'network: provider'], '');
    expect(issuesOf(parseWorkOrder(command))).toEqual([
      {
        path: 'network',
        message: 'the command agent has no model provider: use none, open or { allow: [hosts] }',
        line: 4,
        column: 1,
      },
    ]);
  });

  it('takes "..." as the closing fence', () => {
    const text = lines('---', ...CLI, '...', 'The prompt.');
    expect(ticketOf(parseWorkOrder(text)).tasks[0].prompt).toBe('The prompt.');
  });

  it('keeps on, yes and no as strings (the core schema)', () => {
    const text = workOrder([...CLI, `repo: ${REPO}`, 'clone_branch: on', 'push_branch: yes']);
    expect(ticketOf(parseWorkOrder(text)).tasks[0]).toMatchObject({
      clone_branch: 'on',
      push_branch: 'yes',
    });
  });

  it('expands anchors and aliases within the limit', () => {
    const text = workOrder([
      ...CLI,
      `repo: ${REPO}`,
      'allowed_paths: &paths [src/**]',
      'context_files: *paths',
    ]);
    expect(ticketOf(parseWorkOrder(text)).tasks[0].context_files).toEqual(['src/**']);
  });

  describe('refuses', () => {
    it('a work order over 1 MiB, at line 1', () => {
      const text = workOrder(CLI, 'x'.repeat(DOCUMENT_LIMITS.documentBytes));
      expect(issuesOf(parseWorkOrder(text))).toEqual([
        { path: '', message: 'the work order is larger than 1 MiB', line: 1, column: 1 },
      ]);
    });

    it('counts the limit in UTF-8 bytes, not characters', () => {
      const text = workOrder(CLI, 'é'.repeat(DOCUMENT_LIMITS.documentBytes / 2));
      expect(issuesOf(parseWorkOrder(text))[0].message).toBe('the work order is larger than 1 MiB');
    });

    it('front matter over 64 KiB, at line 1', () => {
      const text = workOrder([...CLI, `# ${'x'.repeat(DOCUMENT_LIMITS.frontMatterBytes)}`]);
      expect(issuesOf(parseWorkOrder(text))).toEqual([
        { path: '', message: 'the front matter is larger than 64 KiB', line: 1, column: 1 },
      ]);
    });

    it.each(['title: x\n', '\n---\ntitle: x\n---\n', '--- title: x\n---\n', ''])(
      'text without front matter: %j',
      (text) => {
        expect(issuesOf(parseWorkOrder(text))).toEqual([
          {
            path: '',
            message: 'a work order starts with a "---" line, then YAML front matter, then "---"',
            line: 1,
            column: 1,
          },
        ]);
      },
    );

    it('front matter without its closing "---"', () => {
      expect(issuesOf(parseWorkOrder(lines('---', ...CLI, 'The prompt.')))).toEqual([
        {
          path: '',
          message: 'the front matter opened by "---" on line 1 has no closing "---" line',
          line: 1,
          column: 1,
        },
      ]);
    });

    it('YAML syntax errors, with the line and column of the yaml library', () => {
      const issues = issuesOf(parseWorkOrder(workOrder([...CLI, 'labels: [a, b', 'model: m'])));
      expect(issues.length).toBeGreaterThan(0);
      expect(issues[0]).toMatchObject({ path: '', line: 5, column: 1 });
      expect(issues[0].message).toMatch(/flow sequence/i);
    });

    it('a duplicate key, named with the line of the first', () => {
      const text = workOrder([...CLI, 'model: a', 'title: again']);
      expect(issuesOf(parseWorkOrder(text))).toEqual([
        { path: 'title', message: 'duplicate key "title" (first on line 2)', line: 5, column: 1 },
      ]);
    });

    it('a duplicate key deeper down, and still checks the other fields', () => {
      const text = workOrder([...CLI, 'env:', '  A: x', '  A: y', 'max_iterations: 99']);
      expect(issuesOf(parseWorkOrder(text))).toEqual([
        { path: 'env.A', message: 'duplicate key "A" (first on line 5)', line: 6, column: 3 },
        {
          path: 'max_iterations',
          message: expect.stringMatching(/<=20/) as string,
          line: 7,
          column: 1,
        },
      ]);
    });

    it('aliases that expand past the limit (billion laughs), quickly', () => {
      const laughs = [
        'a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]',
        ...['b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].map(
          (name, i) => `${name}: &${name} [${Array(9).fill(`*${'abcdefgh'[i]}`).join(', ')}]`,
        ),
      ];
      const started = Date.now();
      const issues = issuesOf(parseWorkOrder(workOrder(['title: t', ...laughs])));
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(issues).toEqual([
        {
          path: '',
          message: expect.stringMatching(/^aliases expand to too many nodes/) as string,
          line: 2,
          column: 1,
        },
      ]);
    });

    it('an alias without an anchor, and an alias inside the node it names', () => {
      expect(issuesOf(parseWorkOrder(workOrder([...CLI, 'labels: *nope'])))).toEqual([
        {
          path: 'labels',
          message: 'the alias *nope has no anchor &nope before it',
          line: 4,
          column: 9,
        },
      ]);
      expect(issuesOf(parseWorkOrder(workOrder([...CLI, 'env: &e {A: *e}'])))).toEqual([
        { path: 'env.A', message: 'the alias *e is inside the node it names', line: 4, column: 13 },
      ]);
    });

    it.each([
      ['model: !!js/function "function () {}"', 'Unresolved tag: tag:yaml.org,2002:js/function'],
      ['resources: !ruby/object {memory_mb: 64}', 'Unresolved tag: !ruby/object'],
      ['model: !!binary aGk=', 'Unresolved tag: tag:yaml.org,2002:binary'],
      ['labels: !!set {a}', 'Unresolved tag: tag:yaml.org,2002:set'],
    ])('a tag outside the core schema: %s', (line, message) => {
      expect(issuesOf(parseWorkOrder(workOrder([...CLI, line])))).toEqual([
        { path: '', message, line: 4, column: expect.any(Number) as number },
      ]);
    });

    it.each([
      [['- title: x'], 'a list'],
      [['just some text'], 'a string'],
      [['42'], 'a number (quote it)'],
      [[], 'empty'],
      [['# only a comment'], 'empty'],
    ])('front matter that is not a mapping: %j', (front, kind) => {
      expect(issuesOf(parseWorkOrder(workOrder(front)))).toEqual([
        {
          path: '',
          message: `the front matter must be a mapping of fields such as "title: ..."; it is ${kind}`,
          line: 2,
          column: 1,
        },
      ]);
    });

    it('__proto__, constructor and prototype as fields, without polluting any prototype', () => {
      const text = workOrder([
        ...CLI,
        '__proto__: {polluted: 1}',
        'constructor: {polluted: 1}',
        'prototype: {polluted: 1}',
      ]);
      expect(issuesOf(parseWorkOrder(text))).toEqual([
        { path: '__proto__', message: 'unknown field "__proto__"', line: 4, column: 1 },
        { path: 'constructor', message: 'unknown field "constructor"', line: 5, column: 1 },
        { path: 'prototype', message: 'unknown field "prototype"', line: 6, column: 1 },
      ]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });

    it('__proto__ inside env, resources and a step, without polluting any prototype', () => {
      const text = workOrder([
        'title: t',
        'env: {__proto__: {polluted: 1}}',
        'resources: {__proto__: {polluted: 1}}',
        'steps:',
        '  - run: make',
        '    env:',
        '      __proto__: x',
      ]);
      expect(issuesOf(parseWorkOrder(text))).toEqual([
        { path: 'env.__proto__', message: 'is not a variable name', line: 3, column: 7 },
        { path: 'resources.__proto__', message: 'unknown field "__proto__"', line: 4, column: 13 },
        { path: 'steps.0.env.__proto__', message: 'is not a variable name', line: 8, column: 7 },
      ]);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it.each([
      ['1: x', 'a number (quote it)', 1],
      ['true: x', 'a boolean (quote it)', 1],
      ['? [a]\n: b', 'a list', 3],
      ['? {a: 1}\n: b', 'a mapping', 3],
    ])('a key that is not a string: %j', (line, kind, column) => {
      expect(issuesOf(parseWorkOrder(workOrder([...CLI, line])))).toEqual([
        { path: '', message: `a key must be a string, not ${kind}`, line: 4, column },
      ]);
    });

    it('an unknown field, suggesting the closest known one', () => {
      const text = workOrder([...CLI, 'max_iteration: 3', 'enviroment: {}', 'colour: red']);
      expect(issuesOf(parseWorkOrder(text))).toEqual([
        {
          path: 'max_iteration',
          message: 'unknown field "max_iteration" (did you mean "max_iterations"?)',
          line: 4,
          column: 1,
        },
        { path: 'enviroment', message: 'unknown field "enviroment"', line: 5, column: 1 },
        { path: 'colour', message: 'unknown field "colour"', line: 6, column: 1 },
      ]);
    });

    it.each([
      ['prompt: do it', 'unknown field "prompt" (the body is the prompt)'],
      [
        'description: why',
        'unknown field "description" (the body is the description, for agents other than CLI agents)',
      ],
      [
        'depends_on: [a]',
        'unknown field "depends_on" (a work order is a ticket of one task; write a YAML or JSON ticket for more)',
      ],
    ])('a ticket field a work order writes elsewhere: %s', (line, message) => {
      expect(issuesOf(parseWorkOrder(workOrder([...CLI, line])))).toEqual([
        { path: line.split(':')[0], message, line: 4, column: 1 },
      ]);
    });

    it.each<[string, string, number, number, RegExp]>([
      ['max_iterations: "three"', 'max_iterations', 4, 1, /expected number, received string/],
      ['max_iterations: 21', 'max_iterations', 4, 1, /<=20/],
      ['priority: 5000', 'priority', 4, 1, /<=1000/],
      ['timeout: 10 minutes', 'timeout', 4, 1, /must be a duration such as "90s"/],
      ['timeout: true', 'timeout', 4, 1, /^Invalid input: expected number or string$/],
      ['approval_timeout: 1h', 'approval_timeout', 4, 1, /^needs requires_approval: true$/],
      [
        `repo: ${REPO}\nclone_branch: 1.10`,
        'clone_branch',
        5,
        1,
        /expected string, received number/,
      ],
      ['model: "claude\\0"', 'model', 4, 1, /must be a model name/],
      ['labels: [ok, "bad label"]', 'labels.1', 4, 14, /must be 1-63 characters/],
      ['env:\n  CI: 1', 'env.CI', 5, 3, /must be a string or \{"secret": "<value>"\}/],
      [
        'acceptance_commands:\n  - npm test\n  - 5',
        'acceptance_commands.1',
        6,
        5,
        /expected string/,
      ],
      ['resources: {memry_mb: 1}', 'resources.memry_mb', 4, 13, /did you mean "memory_mb"/],
    ])('%s: names %s at line %i', (front, path, line, column, message) => {
      const issues = issuesOf(parseWorkOrder(workOrder([...CLI, ...front.split('\n')])));
      expect(issues).toEqual([
        { path, message: expect.stringMatching(message) as string, line, column },
      ]);
    });

    it('an unknown agent, at its line', () => {
      const text = workOrder(['title: t', 'agent: claude'], 'Do it.');
      expect(issuesOf(parseWorkOrder(text))).toEqual([
        {
          path: 'agent',
          message: expect.stringMatching(/^Invalid option/) as string,
          line: 3,
          column: 1,
        },
      ]);
    });

    it('a missing title, at the front matter', () => {
      expect(issuesOf(parseWorkOrder(workOrder(['agent: codex'])))).toEqual([
        {
          path: 'title',
          message: expect.stringMatching(/expected string/) as string,
          line: 2,
          column: 1,
        },
      ]);
    });

    it('NUL characters in a value, at its line (once for the ticket and the task)', () => {
      const text = workOrder(['agent: codex', 'title: "a\\0b"']);
      expect(issuesOf(parseWorkOrder(text))).toEqual([
        {
          path: 'title',
          message: 'must not contain NUL characters or unpaired UTF-16 surrogates',
          line: 3,
          column: 1,
        },
      ]);
    });

    it('a raw NUL character in a value, at its line', () => {
      const text = workOrder([...CLI, 'model: claude\u0000']);
      expect(issuesOf(parseWorkOrder(text))).toEqual([
        {
          path: 'model',
          message: expect.stringMatching(/must be a model name/) as string,
          line: 4,
          column: 1,
        },
      ]);
    });

    it('NUL characters in the body, at its first line', () => {
      const text = workOrder(CLI, '\n\nline one\u0000\nline two');
      expect(issuesOf(parseWorkOrder(text))).toEqual([
        {
          path: 'body',
          message: 'must not contain NUL characters or unpaired UTF-16 surrogates',
          line: 7,
          column: 1,
        },
      ]);
    });

    it('an empty body for a CLI agent, at the line after the closing fence', () => {
      expect(issuesOf(parseWorkOrder(workOrder(CLI, '\n   \n')))).toEqual([
        { path: 'body', message: 'the body is the prompt and is empty', line: 5, column: 1 },
      ]);
      expect(issuesOf(parseWorkOrder('---\ntitle: t\nagent: aider\n---'))).toEqual([
        { path: 'body', message: 'the body is the prompt and is empty', line: 5, column: 1 },
      ]);
    });

    it('a command agent without steps, at the front matter', () => {
      expect(issuesOf(parseWorkOrder(workOrder(['title: t'])))).toEqual([
        { path: 'steps', message: 'is required for the command agent', line: 2, column: 1 },
      ]);
    });

    it('nesting past the limit without overflowing the stack, every time', () => {
      const deep = `x: ${'['.repeat(5_000)}${']'.repeat(5_000)}`;
      const block = Array.from({ length: 200 }, (_, i) => `${' '.repeat(i)}- `).join('\n');
      for (const front of [deep, deep, `labels:\n${block}x`, `labels:\n${block}x`]) {
        const issues = issuesOf(parseWorkOrder(workOrder([...CLI, ...front.split('\n')])));
        expect(issues).toEqual([
          {
            path: '',
            message: `nested more than ${DOCUMENT_LIMITS.depth} levels deep`,
            line: expect.any(Number) as number,
            column: expect.any(Number) as number,
          },
        ]);
      }
    });

    it('with issues that fit the details of an ErrorBody', () => {
      const issues = issuesOf(parseWorkOrder(workOrder([...CLI, 'max_iterations: 0', 'x: 1'])));
      expect(ErrorBody.parse({ code: 'invalid', message: 'bad', details: issues }).details).toEqual(
        issues,
      );
    });

    it('with every issue found, sorted by line', () => {
      const text = workOrder([
        'title: t',
        'agent: codex',
        'max_iterations: 0',
        'colour: red',
        'env: {"bad name": x}',
        'priority: high',
      ]);
      const issues = issuesOf(parseWorkOrder(text, 'x.md'));
      expect(issues.map((i) => [i.path, i.line])).toEqual([
        ['max_iterations', 4],
        ['colour', 5],
        ['env.bad name', 6],
        ['priority', 7],
      ]);
    });
  });
});

const YAML_TICKET = lines(
  'title: Release',
  'labels: [release]',
  'tasks:',
  '  - key: build',
  '    steps:',
  '      - run: make',
  '  - key: test',
  '    depends_on: [build]',
  '    steps:',
  '      - name: unit',
  '        run: make test',
);

describe(parseTicketDocument.name, () => {
  it('reads a YAML ticket', () => {
    expect(ticketOf(parseTicketDocument(YAML_TICKET, 'yaml'))).toEqual({
      title: 'Release',
      project: 'default',
      priority: 0,
      labels: ['release'],
      tasks: [
        { key: 'build', agent: 'command', depends_on: [], steps: [{ run: 'make' }] },
        {
          key: 'test',
          agent: 'command',
          depends_on: ['build'],
          steps: [{ name: 'unit', run: 'make test' }],
        },
      ],
    });
  });

  it('reads phases into tasks that wait for the phase before', () => {
    const text = lines(
      'title: Pipeline',
      'phases:',
      '  - name: build',
      '    tasks: [{key: a, agent: nop}, {key: b, agent: nop}]',
      '  - name: ship',
      '    tasks: [{key: c, agent: nop}]',
    );
    const ticket = ticketOf(parseTicketDocument(text, 'yaml'));
    expect(ticket.tasks.map((t) => [t.key, t.phase, t.depends_on])).toEqual([
      ['a', 'build', []],
      ['b', 'build', []],
      ['c', 'ship', ['a', 'b']],
    ]);
  });

  it('reads a JSON ticket as JSON.parse and SubmitTicket would', () => {
    const json = JSON.stringify(
      {
        title: 'Release \u00e9\ud83d\ude80',
        tasks: [{ key: 'a', steps: [{ run: 'echo "a\\tb" # not a comment', env: { X: 'on' } }] }],
      },
      null,
      '\t',
    );
    const expected = SubmitTicket.parse(JSON.parse(json));
    expect(ticketOf(parseTicketDocument(json, 'json'))).toEqual(expected);
    const compact = JSON.stringify(JSON.parse(json));
    expect(ticketOf(parseTicketDocument(compact, 'json'))).toEqual(expected);
  });

  it('points a wrong field deep in tasks.1.steps.0.run at its line', () => {
    const text = YAML_TICKET.replace('run: make test', 'run: 5');
    expect(issuesOf(parseTicketDocument(text, 'yaml'))).toEqual([
      {
        path: 'tasks.1.steps.0.run',
        message: expect.stringMatching(/expected string/) as string,
        line: 11,
        column: 9,
      },
    ]);
  });

  it('points a missing title at line 1 and a missing field at its parent mapping', () => {
    const text = lines('tasks:', '  - key: a', '  - key: b', '    agent: oracle');
    expect(issuesOf(parseTicketDocument(text, 'yaml'))).toEqual([
      {
        path: 'title',
        message: expect.stringMatching(/expected string/) as string,
        line: 1,
        column: 1,
      },
      { path: 'tasks.0.steps', message: 'is required for the command agent', line: 2, column: 5 },
      { path: 'tasks.1.solution', message: 'is required for the oracle agent', line: 3, column: 5 },
    ]);
  });

  it('points a wrong agent in phases.0.tasks.2 at its line in JSON', () => {
    const text = JSON.stringify(
      {
        title: 't',
        phases: [
          {
            name: 'p',
            tasks: [
              { key: 'a', agent: 'nop' },
              { key: 'b', agent: 'nop' },
              { key: 'c', agent: 'robot' },
            ],
          },
        ],
      },
      null,
      2,
    );
    const line = text.split('\n').findIndex((l) => l.includes('"robot"')) + 1;
    const column = text.split('\n')[line - 1].indexOf('"agent"') + 1;
    expect(issuesOf(parseTicketDocument(text, 'json'))).toEqual([
      {
        path: 'phases.0.tasks.2.agent',
        message: expect.stringMatching(/^Invalid option/) as string,
        line,
        column,
      },
    ]);
  });

  it('names an unknown field with the closest field of its own object', () => {
    const text = lines(
      'title: t',
      'tasks:',
      '  - key: a',
      '    agent: nop',
      '    max_iteration: 2',
      'task: x',
    );
    expect(issuesOf(parseTicketDocument(text, 'yaml'))).toEqual([
      {
        path: 'tasks.0.max_iteration',
        message: 'unknown field "max_iteration" (did you mean "max_iterations"?)',
        line: 5,
        column: 5,
      },
      { path: 'task', message: 'unknown field "task" (did you mean "tasks"?)', line: 6, column: 1 },
    ]);
  });

  it.each([
    ['{"title": "x",\n "tasks": [1,]\n}', 2, 14],
    ['{"title": "x",\n "tasks": [}', 2, 12],
    ['{\n  "title" "x"\n}', 2, 11],
    ['{"title": "x"}\n{}', 2, 1],
    ['title: x\ntasks: []', 1, 1],
    ['{"title": "x\n"}', 1, 13],
    ['', 1, 1],
  ])('refuses text that is not JSON, with a line: %j', (text, line, column) => {
    const issues = issuesOf(parseTicketDocument(text, 'json'));
    expect(issues).toEqual([
      { path: '', message: expect.stringMatching(/^not valid JSON: /) as string, line, column },
    ]);
  });

  it('refuses duplicate keys in JSON, which JSON.parse would let the last win', () => {
    const text =
      '{\n  "title": "a",\n  "title": "b",\n  "tasks": [{"key": "a", "agent": "nop"}]\n}';
    expect(issuesOf(parseTicketDocument(text, 'json'))).toEqual([
      { path: 'title', message: 'duplicate key "title" (first on line 2)', line: 3, column: 3 },
    ]);
  });

  it('refuses __proto__ at the top without polluting any prototype', () => {
    for (const [text, format] of [
      [
        '{"__proto__": {"polluted": 1}, "title": "t", "tasks": [{"key": "a", "agent": "nop"}]}',
        'json',
      ],
      ['__proto__: {polluted: 1}\ntitle: t\ntasks: [{key: a, agent: nop}]', 'yaml'],
    ] as const) {
      expect(issuesOf(parseTicketDocument(text, format))).toEqual([
        {
          path: '__proto__',
          message: 'unknown field "__proto__"',
          line: 1,
          column: expect.any(Number) as number,
        },
      ]);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['- title: x', 'a list'],
    ['', 'empty'],
    ['"just text"', 'a string'],
  ])('refuses a document that is not a mapping: %j', (text, kind) => {
    expect(issuesOf(parseTicketDocument(text, 'yaml'))).toEqual([
      {
        path: '',
        message: `a ticket document must be a mapping with title and tasks or phases; it is ${kind}`,
        line: 1,
        column: 1,
      },
    ]);
  });

  it('refuses a stream of more than one YAML document', () => {
    const text = `${YAML_TICKET}---\n${YAML_TICKET}`;
    expect(issuesOf(parseTicketDocument(text, 'yaml'))).toEqual([
      { path: '', message: 'holds more than one YAML document', line: 12, column: 1 },
    ]);
  });

  it('refuses a document over 1 MiB', () => {
    const text = `title: t\n# ${'x'.repeat(DOCUMENT_LIMITS.documentBytes)}\n`;
    expect(issuesOf(parseTicketDocument(text, 'yaml'))).toEqual([
      { path: '', message: 'the ticket document is larger than 1 MiB', line: 1, column: 1 },
    ]);
  });

  it('refuses deep JSON nesting without overflowing the stack', () => {
    const text = `{"title": ${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    expect(issuesOf(parseTicketDocument(text, 'json'))[0].message).toBe(
      `nested more than ${DOCUMENT_LIMITS.depth} levels deep`,
    );
  });
});

describe(ticketFormatOf.name, () => {
  it.each([
    ['fix-add.md', 'markdown'],
    ['ORDERS/FIX.MD', 'markdown'],
    ['text/markdown', 'markdown'],
    ['text/markdown; charset=utf-8', 'markdown'],
    ['ticket.yaml', 'yaml'],
    ['ticket.yml', 'yaml'],
    ['application/yaml', 'yaml'],
    ['ticket.json', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['ticket.txt', undefined],
    ['text/plain', undefined],
    ['README', undefined],
  ])('%s is %s', (name, format) => expect(ticketFormatOf(name)).toBe(format));
});

describe('WORK_ORDER_FIELDS', () => {
  it('takes every field a work order is documented to have, each one a ticket or task field', () => {
    const documented = ['title', 'repo', 'clone_branch', 'push_branch', 'agent', 'model'];
    documented.push('max_iterations', 'acceptance_commands', 'allowed_paths', 'forbidden_paths');
    documented.push('context_files', 'env', 'priority', 'timeout', 'labels');
    expect(WORK_ORDER_FIELDS).toEqual(expect.arrayContaining(documented));
    const known = new Set([
      ...Object.keys(TaskInput.shape),
      'title',
      'priority',
      'labels',
      'project',
      'budget_usd',
    ]);
    expect(WORK_ORDER_FIELDS.filter((f) => !known.has(f))).toEqual([]);
  });
});
