import { checkPipelineReferences, usesPipelineFeatures, type PipelineTask } from './references';

const task = (key: string, dependsOn: string[] = [], fields: Partial<PipelineTask> = {}) => ({
  key,
  depends_on: dependsOn,
  ...fields,
});

/** a -> b -> c, and d beside them: c may read a and b, not d. */
const chain = (fields: Partial<PipelineTask>): PipelineTask[] => [
  task('a'),
  task('b', ['a']),
  task('c', ['b'], fields),
  task('d'),
];

describe(checkPipelineReferences.name, () => {
  it('accepts references to direct and transitive dependencies in every field', () => {
    const tasks = chain({
      when: 'steps.b.status == "SUCCEEDED" and {{ steps.a.output.count }} > 0',
      prompt: 'Fix {{ steps.a.output.errors }} ({{steps.b.status}})',
      solution: 'git apply {{ steps.b.output.patch }}',
      steps: [{ run: 'make' }, { run: 'echo {{ steps.a.output.items.0 }}' }],
      acceptance_commands: ['test {{ steps.b.output.ok }} = true'],
    });
    expect(checkPipelineReferences(tasks)).toEqual([]);
  });

  it('accepts a ticket without conditions or templates', () => {
    const tasks = [task('a', [], { prompt: 'hello {{ .Values }}' }), task('b', ['a'])];
    expect(checkPipelineReferences(tasks)).toEqual([]);
    expect(checkPipelineReferences([])).toEqual([]);
  });

  it('names an unknown step', () => {
    expect(checkPipelineReferences(chain({ when: 'steps.lnt.status == "FAILED"' }))).toEqual([
      { path: 'tasks.2.when', message: 'no step "lnt" in this ticket' },
    ]);
  });

  it('names a step that is in the ticket but not upstream', () => {
    expect(checkPipelineReferences(chain({ prompt: '{{ steps.d.output.x }}' }))).toEqual([
      {
        path: 'tasks.2.prompt',
        message:
          'steps.d is not upstream of "c": add it to depends_on (directly or through another step)',
      },
    ]);
  });

  it('refuses a reference to a downstream step', () => {
    const tasks = [task('lint'), task('deploy', ['lint'])];
    tasks[0].when = 'steps.deploy.status == "SUCCEEDED"';
    expect(checkPipelineReferences(tasks)).toEqual([
      {
        path: 'tasks.0.when',
        message:
          'steps.deploy is not upstream of "lint": add it to depends_on (directly or through another step)',
      },
    ]);
  });

  it('refuses a reference of a task to itself', () => {
    expect(checkPipelineReferences(chain({ when: 'steps.c.status == "FAILED"' }))).toEqual([
      {
        path: 'tasks.2.when',
        message: 'steps.c is "c" itself: a task can only read the steps it depends on',
      },
    ]);
  });

  it('gives each field its own path', () => {
    const bad = '{{ steps.d.status }}';
    const tasks = chain({
      prompt: bad,
      solution: bad,
      steps: [{ run: 'make' }, { run: bad }],
      acceptance_commands: [bad, 'true'],
    });
    expect(checkPipelineReferences(tasks).map((i) => i.path)).toEqual([
      'tasks.2.prompt',
      'tasks.2.solution',
      'tasks.2.steps.1.run',
      'tasks.2.acceptance_commands.0',
    ]);
  });

  it('reports a condition that does not parse with its index', () => {
    expect(checkPipelineReferences(chain({ when: 'steps.a.status = "x"' }))).toEqual([
      { path: 'tasks.2.when', message: 'at 15: unknown operator "=" (use == to compare)' },
    ]);
    expect(checkPipelineReferences(chain({ when: 'steps.a.status == "x" and' }))).toEqual([
      {
        path: 'tasks.2.when',
        message: 'at 25: expected an operand after "and", found end of expression',
      },
    ]);
  });

  it('reports a template that does not parse with its index', () => {
    expect(
      checkPipelineReferences(chain({ steps: [{ run: 'echo {{ steps.a.outputs }}' }] })),
    ).toEqual([
      {
        path: 'tasks.2.steps.0.run',
        message:
          'at 8: "steps.a.outputs" is not a reference: expected steps.<key>.output[.<field>...], steps.<key>.status or steps.<key>.error',
      },
    ]);
    expect(checkPipelineReferences(chain({ prompt: 'x {{ steps.a.status' }))).toEqual([
      { path: 'tasks.2.prompt', message: 'at 19: unterminated template: expected "}}"' },
    ]);
  });

  it('reports each bad step once per field, in reading order', () => {
    const tasks = chain({
      when: 'steps.d.status == "x" or steps.zz.status == "y" or steps.d.status == "z"',
      prompt: '{{ steps.d.status }} {{ steps.d.output.x }} {{ steps.a.status }}',
    });
    expect(checkPipelineReferences(tasks)).toEqual([
      {
        path: 'tasks.2.when',
        message: expect.stringMatching(/^steps\.d is not upstream/) as string,
      },
      { path: 'tasks.2.when', message: 'no step "zz" in this ticket' },
      {
        path: 'tasks.2.prompt',
        message: expect.stringMatching(/^steps\.d is not upstream/) as string,
      },
    ]);
  });

  it('checks every task, in submission order', () => {
    const tasks = [
      task('a', [], { prompt: '{{ steps.b.status }}' }),
      task('b', ['a'], { when: 'steps.a.status == "SUCCEEDED"' }),
      task('c', ['a'], { when: 'steps.b.status == "SUCCEEDED"' }),
    ];
    expect(
      checkPipelineReferences(tasks).map((i) => `${i.path}: ${i.message.slice(0, 30)}`),
    ).toEqual([
      'tasks.0.prompt: steps.b is not upstream of "a"',
      'tasks.2.when: steps.b is not upstream of "c"',
    ]);
  });

  it('follows every path up a diamond', () => {
    const tasks = [
      task('root'),
      task('left', ['root']),
      task('right', ['root']),
      task('side'),
      task('join', ['left', 'right'], {
        when: 'steps.root.status == "SUCCEEDED" and steps.left.status == steps.right.status',
      }),
      task('after', ['join'], { prompt: '{{steps.root.status}} {{steps.side.status}}' }),
    ];
    expect(checkPipelineReferences(tasks)).toEqual([
      {
        path: 'tasks.5.prompt',
        message:
          'steps.side is not upstream of "after": add it to depends_on (directly or through another step)',
      },
    ]);
  });

  it('ignores literal braces that are not templates', () => {
    const tasks = chain({
      steps: [{ run: 'helm template --set x={{ .Values.x }} && echo ${{ steps.d.outputs.y }}' }],
    });
    expect(checkPipelineReferences(tasks)).toEqual([]);
  });

  it('checks a 10,000-task chain where every task reads the first, without recursion', () => {
    const n = 10_000;
    const tasks: PipelineTask[] = Array.from({ length: n }, (_, i) =>
      task(`t${i}`, i ? [`t${i - 1}`] : [], i ? { prompt: 'after {{ steps.t0.status }}' } : {}),
    );
    expect(checkPipelineReferences(tasks)).toEqual([]);
    tasks[0].when = `steps.t${n - 1}.status == "SUCCEEDED"`;
    expect(checkPipelineReferences(tasks)).toEqual([
      {
        path: 'tasks.0.when',
        message: expect.stringMatching(/^steps\.t9999 is not upstream of "t0"/) as string,
      },
    ]);
  });

  it('checks a wide fan-in where the last task reads every other', () => {
    const n = 2_000;
    const tasks: PipelineTask[] = Array.from({ length: n }, (_, i) => task(`t${i}`));
    const readAll = tasks.map((t) => `{{ steps.${t.key}.status }}`).join(' ');
    tasks.push(
      task(
        'sink',
        tasks.slice(1).map((t) => t.key),
        { prompt: readAll },
      ),
    );
    expect(checkPipelineReferences(tasks)).toEqual([
      {
        path: `tasks.${n}.prompt`,
        message: expect.stringMatching(/^steps\.t0 is not upstream/) as string,
      },
    ]);
  });

  it('stops on a cyclic graph instead of looping (the graph check reports the cycle)', () => {
    const tasks = [
      task('a', ['b']),
      task('b', ['a']),
      task('c', ['a'], { when: 'steps.b.status == "x"' }),
    ];
    expect(checkPipelineReferences(tasks)).toEqual([]);
  });
});

describe(usesPipelineFeatures.name, () => {
  it('is true for a condition or a template in any field', () => {
    expect(usesPipelineFeatures(task('x', [], { when: 'true' }))).toBe(true);
    expect(usesPipelineFeatures(task('x', [], { prompt: '{{steps.a.status}}' }))).toBe(true);
    expect(usesPipelineFeatures(task('x', [], { solution: '{{ steps.a.status }}' }))).toBe(true);
    expect(
      usesPipelineFeatures(task('x', [], { steps: [{ run: 'a' }, { run: '{{ steps.b' }] })),
    ).toBe(true);
    expect(
      usesPipelineFeatures(task('x', [], { acceptance_commands: ['echo {{ steps.a.output }}'] })),
    ).toBe(true);
  });

  it('is false for plain fields and literal braces', () => {
    expect(usesPipelineFeatures(task('x'))).toBe(false);
    expect(
      usesPipelineFeatures(
        task('x', [], {
          prompt: 'plain {{ .Values }}',
          solution: 'echo ${{ steps.a.outputs.b }}',
          steps: [{ run: 'make' }],
          acceptance_commands: ['steps.a.status'],
        }),
      ),
    ).toBe(false);
  });
});
