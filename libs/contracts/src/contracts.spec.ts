import { createEnvelope, EnvelopeSchema, parseSubject } from './envelope';
import { PublicEvents } from './events';
import {
  Consumers,
  runnerConsumer,
  Streams,
  subjectTemplate,
  Subjects,
  workSubject,
} from './subjects';
import { LIMITS, SubmitTicket, type SubmitTicketInput } from './tickets';
import { formatPath, validate, type Issue } from './validation';

const PROJECT = '00000000-0000-4000-8000-0000000000b0';

const SUBJECT_SHAPE = /^drover\.[a-z-]+\.[a-z-]+\.[a-z-]+\.v\d+$/;

function ticket(overrides: Partial<SubmitTicketInput> = {}): SubmitTicketInput {
  return {
    title: 'Fix the build',
    tasks: [{ key: 'build', steps: [{ run: 'make' }] }],
    ...overrides,
  };
}

/** A ticket whose only task has these step fields. */
function withStep(step: Record<string, unknown>): unknown {
  return { title: 't', tasks: [{ key: 'a', steps: [{ run: 'true', ...step }] }] };
}

function issuesOf(input: unknown): Issue[] {
  const result = validate(SubmitTicket, input);
  if (result.ok) throw new Error(`expected issues, got ${JSON.stringify(result.value)}`);
  return result.issues;
}

describe('SubmitTicket', () => {
  it('accepts a minimal ticket and fills in the defaults', () => {
    expect(SubmitTicket.parse(ticket())).toEqual({
      title: 'Fix the build',
      project: 'default',
      priority: 0,
      tasks: [{ key: 'build', agent: 'command', depends_on: [], steps: [{ run: 'make' }] }],
    });
  });

  it('keeps the values given instead of the defaults', () => {
    const parsed = SubmitTicket.parse(
      ticket({
        project: 'web-app',
        priority: -7,
        tasks: [
          { key: 'a', steps: [{ run: 'true' }] },
          { key: 'b', depends_on: ['a'], priority: 3, steps: [{ run: 'x', cwd: 'sub/dir' }] },
        ],
      }),
    );
    expect(parsed.project).toBe('web-app');
    expect(parsed.priority).toBe(-7);
    expect(parsed.tasks[1]).toMatchObject({ depends_on: ['a'], priority: 3 });
    expect(parsed.tasks[1].steps?.[0].cwd).toBe('sub/dir');
  });

  it('refuses unknown fields on the ticket, the task and the step', () => {
    const issues = issuesOf({
      title: 't',
      extra: 1,
      tasks: [{ key: 'a', foo: 1, steps: [{ run: 'x', bar: 2 }] }],
    });
    expect(issues.map((i) => `${i.path}: ${i.message}`).sort()).toEqual([
      'extra: unknown field',
      'tasks[0].foo: unknown field',
      'tasks[0].steps[0].bar: unknown field',
    ]);
  });

  it.each(['', 'Build', '-build', '_x', 'a.b', 'a b', 'x'.repeat(64)])(
    'refuses the task key %j',
    (key) => {
      const issues = issuesOf({ title: 't', tasks: [{ key, steps: [{ run: 'x' }] }] });
      expect(issues.map((i) => i.path)).toEqual(['tasks[0].key']);
    },
  );

  it.each(['a', '0', 'build-1', 'a_b', 'x'.repeat(63)])('accepts the task key %j', (key) => {
    expect(validate(SubmitTicket, { title: 't', tasks: [{ key, steps: [{ run: 'x' }] }] }).ok).toBe(
      true,
    );
  });

  it('refuses a bad key in depends_on', () => {
    const issues = issuesOf({
      title: 't',
      tasks: [{ key: 'a', depends_on: ['Nope'], steps: [{ run: 'x' }] }],
    });
    expect(issues.map((i) => i.path)).toEqual(['tasks[0].depends_on[0]']);
  });

  it.each(['..', '../x', 'a/../b', 'a/..', 'a\\..\\b'])(
    'refuses cwd %j as it contains ".."',
    (cwd) => {
      expect(issuesOf(withStep({ cwd }))).toEqual([
        { path: 'tasks[0].steps[0].cwd', message: 'must not contain ".."' },
      ]);
    },
  );

  it.each(['/', '/etc', '/tmp/work'])('refuses the absolute cwd %j', (cwd) => {
    expect(issuesOf(withStep({ cwd }))).toEqual([
      { path: 'tasks[0].steps[0].cwd', message: 'must be a relative path' },
    ]);
  });

  it.each(['.', 'src', 'a/b/c', '..foo', 'foo..'])('accepts the relative cwd %j', (cwd) => {
    expect(validate(SubmitTicket, withStep({ cwd })).ok).toBe(true);
  });

  it('refuses an empty cwd', () => {
    expect(issuesOf(withStep({ cwd: '' })).map((i) => i.path)).toEqual(['tasks[0].steps[0].cwd']);
  });

  it('refuses more steps than the limit and accepts exactly the limit', () => {
    const steps = (n: number) => Array.from({ length: n }, (_, i) => ({ run: `echo ${i}` }));
    const over = { title: 't', tasks: [{ key: 'a', steps: steps(LIMITS.stepsPerTask + 1) }] };
    const at = { title: 't', tasks: [{ key: 'a', steps: steps(LIMITS.stepsPerTask) }] };
    expect(issuesOf(over).map((i) => i.path)).toEqual(['tasks[0].steps']);
    expect(validate(SubmitTicket, at).ok).toBe(true);
  });

  it('refuses a task without steps and a ticket without tasks', () => {
    expect(issuesOf({ title: 't', tasks: [{ key: 'a', steps: [] }] }).map((i) => i.path)).toEqual([
      'tasks[0].steps',
    ]);
    expect(issuesOf({ title: 't', tasks: [] }).map((i) => i.path)).toEqual(['tasks']);
  });

  it('refuses an agent it does not know and a priority out of range', () => {
    const issues = issuesOf({
      title: 't',
      priority: 1001,
      tasks: [{ key: 'a', agent: 'skynet', steps: [{ run: 'x' }] }],
    });
    expect(issues.map((i) => i.path).sort()).toEqual(['priority', 'tasks[0].agent']);
  });

  it('refuses a bad env name and a timeout beyond a week', () => {
    const issues = issuesOf(
      withStep({ env: { '1BAD': 'x' }, timeout_seconds: LIMITS.stepTimeoutSeconds + 1 }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual([
      'tasks[0].steps[0].env.1BAD',
      'tasks[0].steps[0].timeout_seconds',
    ]);
  });
});

describe(validate.name, () => {
  it('names the path of a bad field like tasks[0].steps[0].run', () => {
    const issues = issuesOf({ title: 't', tasks: [{ key: 'a', steps: [{ run: '' }] }] });
    expect(issues).toHaveLength(1);
    expect(issues[0].path).toBe('tasks[0].steps[0].run');
    expect(issues[0].message).not.toBe('');
  });

  it('names every bad field at once, deep in the array', () => {
    const issues = issuesOf({
      tasks: [
        { key: 'ok', steps: [{ run: 'x' }] },
        { key: 'b', steps: [{ run: 'x' }, { run: 42 }] },
      ],
    });
    expect(issues.map((i) => i.path).sort()).toEqual(['tasks[1].steps[1].run', 'title']);
  });

  it('returns the parsed value with defaults on success', () => {
    const result = validate(SubmitTicket, ticket());
    if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result.issues)}`);
    expect(result.value).toEqual(SubmitTicket.parse(ticket()));
    expect(result.value.project).toBe('default');
  });
});

describe(formatPath.name, () => {
  it('renders keys with dots and indexes with brackets', () => {
    expect(formatPath(['tasks', 2, 'steps', 0, 'env', 'HOME'])).toBe('tasks[2].steps[0].env.HOME');
    expect(formatPath([0, 'a'])).toBe('[0].a');
    expect(formatPath([])).toBe('(root)');
  });
});

describe(parseSubject.name, () => {
  it('splits a subject into its type and version', () => {
    expect(parseSubject('drover.x.y.z.v1')).toEqual({ type: 'drover.x.y.z', version: 1 });
    expect(parseSubject('drover.runner.run.log-appended.v12')).toEqual({
      type: 'drover.runner.run.log-appended',
      version: 12,
    });
  });

  it('refuses a subject without a version suffix', () => {
    expect(() => parseSubject('drover.x.y.z')).toThrow('has no version suffix');
    expect(() => parseSubject('drover.x.y.z.vx')).toThrow('has no version suffix');
    expect(() => parseSubject('drover.x.y.z.v1x.pool')).toThrow('has no version suffix');
  });

  it('leaves routing tokens after the version out of the type', () => {
    expect(parseSubject(`${Subjects.runDispatched}.pool.${PROJECT}`)).toEqual({
      type: 'drover.scheduler.run.dispatched',
      version: 1,
    });
  });
});

describe(createEnvelope.name, () => {
  it('takes type and version from the subject and fills in id, time and correlation', () => {
    const envelope = createEnvelope('drover.x.y.z.v1', { n: 1 });
    expect(envelope.type).toBe('drover.x.y.z');
    expect(envelope.version).toBe(1);
    expect(envelope.data).toEqual({ n: 1 });
    expect(envelope.correlationId).toBe(envelope.id);
    expect(EnvelopeSchema.safeParse(envelope).success).toBe(true);
  });

  it('uses the id, correlation id and time it is given', () => {
    const id = '00000000-0000-4000-8000-000000000001';
    const occurredAt = new Date(Date.UTC(2024, 1, 29, 12, 0, 0));
    const envelope = createEnvelope(Subjects.runFinished, null, {
      id,
      correlationId: 'ticket-42',
      occurredAt,
    });
    expect(envelope).toEqual({
      id,
      type: 'drover.runner.run.finished',
      version: 1,
      occurredAt: '2024-02-29T12:00:00.000Z',
      correlationId: 'ticket-42',
      data: null,
    });
  });

  it('gives each envelope a fresh id', () => {
    const [a, b] = [createEnvelope('drover.x.y.z.v1', 1), createEnvelope('drover.x.y.z.v1', 1)];
    expect(a.id).not.toBe(b.id);
  });

  it('refuses a subject without a version', () => {
    expect(() => createEnvelope('drover.x.y.z', {})).toThrow('drover.x.y.z');
  });
});

describe('Subjects', () => {
  const subjects: string[] = Object.values(Subjects);

  it('has the drover.<domain>.<entity>.<event>.v<N> shape for every subject', () => {
    expect(subjects.length).toBeGreaterThan(0);
    for (const subject of subjects) expect(subject).toMatch(SUBJECT_SHAPE);
  });

  it('has no two names for the same subject', () => {
    expect(new Set(subjects).size).toBe(subjects.length);
  });
});

describe(workSubject.name, () => {
  it('sends the shared pool’s work on runDispatched and a project’s below it', () => {
    expect(workSubject(null)).toBe(Subjects.runDispatched);
    expect(workSubject(PROJECT)).toBe(`drover.scheduler.run.dispatched.v1.pool.${PROJECT}`);
  });

  it('names a consumer per pool, the shared one not the old unfiltered `runners`', () => {
    expect(runnerConsumer(null)).toBe(Consumers.sharedRunners);
    expect(runnerConsumer(null)).not.toBe('runners');
    expect(runnerConsumer(PROJECT)).toBe(`runners-pool-${PROJECT}`);
  });
});

describe(subjectTemplate.name, () => {
  it('hides the project of a pool’s work subject and keeps every other subject', () => {
    expect(subjectTemplate(workSubject(PROJECT))).toBe(
      'drover.scheduler.run.dispatched.v1.pool.{project}',
    );
    for (const subject of Object.values(Subjects)) expect(subjectTemplate(subject)).toBe(subject);
  });
});

describe('Streams', () => {
  it('only carries subjects listed in Subjects, and the pools’ work subjects', () => {
    const known = new Set<string>([...Object.values(Subjects), workSubject('*')]);
    for (const stream of Object.values(Streams)) {
      expect(stream.subjects.length).toBeGreaterThan(0);
      for (const subject of stream.subjects) expect(known.has(subject)).toBe(true);
    }
  });

  it('puts no subject in two streams and uses distinct names', () => {
    const all = Object.values(Streams).flatMap((s): string[] => [...s.subjects]);
    expect(new Set(all).size).toBe(all.length);
    const names = Object.values(Streams).map((s) => s.name);
    expect(new Set(names).size).toBe(names.length);
  });

  it('carries every public event on the events stream', () => {
    const events = new Set<string>(Streams.events.subjects);
    for (const { subject } of Object.values(PublicEvents)) expect(events.has(subject)).toBe(true);
  });
});
