import { refNameProblem, TaskSpec } from './task-spec';
import { SubmitTicket } from './tickets';
import { validate, type Issue } from './validation';

/** The issues of a ticket with one task of these fields. */
function issuesOf(task: Record<string, unknown>): Issue[] {
  const result = validate(SubmitTicket, { title: 't', tasks: [{ key: 'a', ...task }] });
  return result.ok ? [] : result.issues;
}

const REPO = 'https://git.example.com/team/app.git';

describe('task spec at submission', () => {
  it('accepts a full CLI-agent task and keeps its spec for the runner', () => {
    const task = {
      agent: 'claude-code',
      model: 'claude-sonnet-4-5',
      prompt: 'Fix the failing test in src/add.ts',
      repo: REPO,
      clone_branch: 'main',
      push_branch: 'drover/fix-add',
      acceptance_commands: ['npm test'],
      max_iterations: 3,
      allowed_paths: ['src/**'],
      forbidden_paths: ['src/secrets/**'],
      context_files: ['README.md'],
      env: { CI: 'true' },
      image: 'registry.example.com/agents/node:20',
      network: true,
      resources: { memory_mb: 4096, cpus: 2, pids: 256 },
      timeout: '30m',
    };
    expect(issuesOf(task)).toEqual([]);
    const parsed = SubmitTicket.parse({ title: 't', tasks: [{ key: 'a', ...task }] });
    const spec = TaskSpec.parse(parsed.tasks[0]);
    expect(spec).not.toHaveProperty('key');
    expect(spec).toMatchObject({ prompt: task.prompt, max_iterations: 3, network: true });
  });

  it('fills in the loop defaults: no acceptance commands, one iteration; the network is left to the agent', () => {
    const spec = TaskSpec.parse({ steps: [{ run: 'true' }] });
    expect(spec).toMatchObject({ acceptance_commands: [], max_iterations: 1 });
    expect(spec.network).toBeUndefined();
  });

  it.each<[Record<string, unknown>, Issue[]]>([
    [
      { agent: 'command' },
      [{ path: 'tasks[0].steps', message: 'is required for the command agent' }],
    ],
    [
      { agent: 'codex', steps: [{ run: 'x' }] },
      [
        { path: 'tasks[0].steps', message: 'only the command agent takes steps' },
        { path: 'tasks[0].prompt', message: 'is required for the codex agent' },
      ],
    ],
    [
      { agent: 'oracle' },
      [{ path: 'tasks[0].solution', message: 'is required for the oracle agent' }],
    ],
    [
      { agent: 'nop', prompt: 'x', model: 'm' },
      [
        { path: 'tasks[0].prompt', message: 'only CLI agents take prompt' },
        { path: 'tasks[0].model', message: 'only CLI agents take model' },
      ],
    ],
    [
      { agent: 'nop', push_branch: 'x', allowed_paths: ['src/**'] },
      [
        { path: 'tasks[0].push_branch', message: 'needs repo: there is no repository without it' },
        {
          path: 'tasks[0].allowed_paths',
          message: 'needs repo: there is no repository without it',
        },
      ],
    ],
    [
      { agent: 'nop', timeout: '5m', timeout_seconds: 300 },
      [{ path: 'tasks[0].timeout', message: 'give timeout or timeout_seconds, not both' }],
    ],
  ])('refuses %j across fields', (task, issues) => {
    expect(issuesOf(task)).toEqual(issues);
  });

  it.each([
    ['max_iterations', 0],
    ['max_iterations', 21],
    ['repo', 'ext::sh -c touch% /tmp/x'],
    ['repo', '--upload-pack=x'],
    ['repo', 'http://example.com/x.git'],
    ['clone_branch', '--orphan'],
    ['clone_branch', 'a..b'],
    ['push_branch', 'refs/heads/x.lock'],
    ['allowed_paths', ['../outside']],
    ['forbidden_paths', ['/etc/**']],
    ['context_files', ['../../etc/passwd']],
    ['env', { DROVER_RUN_ID: 'x' }],
    ['env', { 'BAD-NAME': 'x' }],
    ['image', 'Bad Image; rm -rf /'],
    ['model', '--dangerous'],
    ['timeout', '10 minutes'],
    ['resources', { memory_mb: 1 }],
  ])('refuses %s = %j with the field named', (field, value) => {
    const base = { agent: 'nop', repo: REPO };
    const issues = issuesOf({ ...base, [field]: value });
    expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) expect(issue.path).toMatch(new RegExp(`^tasks\\[0\\]\\.${field}`));
  });
});

describe(refNameProblem.name, () => {
  it.each(['main', 'feature/x-1', 'v1.2.3', 'refs/heads/main', 'drover/fix-add'])(
    'accepts %s',
    (ref) => expect(refNameProblem(ref)).toBeUndefined(),
  );

  it.each([
    ['', 'must not be empty'],
    ['-x', "must not start with '-'"],
    ['+main', "must not start with '+'"],
    ['a b', 'must not contain whitespace or control characters'],
    ['a..b', "must not contain '..'"],
    ['a@{1}', "must not contain '@{'"],
    ['x~1', "must not contain '~'"],
    ['@', "must not be '@'"],
    ['a//b', "must not start or end with '/' or contain '//'"],
    ['a/', "must not start or end with '/' or contain '//'"],
    ['a.', "must not end with '.'"],
    ['a/.hidden', "no part of it may start with '.'"],
    ['x.lock', "no part of it may end with '.lock'"],
  ])('refuses %j: %s', (ref, problem) => expect(refNameProblem(ref)).toBe(problem));
});
