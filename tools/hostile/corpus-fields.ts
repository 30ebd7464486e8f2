// The corpus per field: shell metacharacters and leading dashes in every string that
// reaches a command line, git or the workspace; paths that escape it; artifact names
// that are paths. Each case says what it must get and why.
import type { Pools } from './endpoint-rules';
import { ticketCase } from './generators';
import { nopTask } from './ticket-arbitrary';
import {
  http,
  invalid,
  valid,
  type Case,
  type Expect,
  type InputClass,
  type JsonObject,
} from './types';

/** A ticket of `tasks`. */
export const ticket = (tasks: JsonObject[], extra: JsonObject = {}): JsonObject => ({
  title: 'corpus',
  ...extra,
  tasks,
});
/** A POST /tickets case of the corpus (big ones take seconds). */
export const body = (
  cls: InputClass,
  what: string,
  b: JsonObject | Buffer,
  expect: Expect,
  contentType?: string,
): Case => ({
  ...ticketCase({ cls, what, body: b, expect, ...(contentType ? { contentType } : {}) }),
  timeoutMs: 90_000,
});

const LEADING_DASH = [
  '-x',
  '--upload-pack=touch /tmp/pwned',
  '-oProxyCommand=id',
  '--output=/etc/passwd',
  '-',
];
const METACHARS = [
  'a;id',
  'a$(id)',
  'a`id`',
  'a|id',
  'a&&id',
  'a>x',
  'a<x',
  "a'b",
  'a"b',
  'a!b',
  'a#b',
  'a{b,c}',
  'a*',
  'a?',
  'a~',
  'a\\b',
  'a b',
  'a\nid',
  'a\tb',
  '$HOME',
  '${IFS}',
];
/** What git's ref rules refuse among METACHARS; the rest are valid ref names. */
const REF_REFUSED = new Set(['a*', 'a?', 'a~', 'a\\b', 'a b', 'a\nid', 'a\tb']);
/** What a repository address refuses among METACHARS: whitespace and control characters. */
const REPO_REFUSED = new Set(['a b', 'a\nid', 'a\tb']);

const REPO = 'https://git.example.com/team/app.git';
const repoTask = (): JsonObject => ({
  key: 't',
  agent: 'nop',
  repo: REPO,
  clone_branch: 'main',
  push_branch: 'drover/x',
  allowed_paths: ['src/**'],
});
const cliTask = (): JsonObject => ({
  key: 't',
  agent: 'claude-code',
  prompt: 'p',
  model: 'claude-sonnet-4-5',
  repo: REPO,
  context_files: ['README.md'],
});

/**
 * Per field: how to set a value, and whether a value is refused. Identifiers refuse
 * everything here. git fields refuse a leading dash and what git or URLs refuse, and
 * take the rest: git gets them as arguments after `--`, never through a shell. Paths
 * are read in the workspace or matched as globs, never on a command line: any name
 * is fine but an absolute one or `..`. Free text is shell by design.
 */
const FIELDS: { field: string; set: (v: string) => JsonObject; refused: (v: string) => boolean }[] =
  [
    {
      field: 'repo',
      set: (v) =>
        ticket([
          { ...repoTask(), repo: v.startsWith('-') ? v : `https://git.example.com/team/${v}.git` },
        ]),
      refused: (v) => v.startsWith('-') || REPO_REFUSED.has(v),
    },
    {
      field: 'clone_branch',
      set: (v) => ticket([{ ...repoTask(), clone_branch: v }]),
      refused: (v) => v.startsWith('-') || REF_REFUSED.has(v),
    },
    {
      field: 'push_branch',
      set: (v) => ticket([{ ...repoTask(), push_branch: v }]),
      refused: (v) => v.startsWith('-') || REF_REFUSED.has(v),
    },
    { field: 'model', set: (v) => ticket([{ ...cliTask(), model: v }]), refused: () => true },
    { field: 'image', set: (v) => ticket([{ ...nopTask('t'), image: v }]), refused: () => true },
    {
      field: 'env',
      set: (v) => ticket([{ ...nopTask('t'), env: { [v]: '1' } }]),
      refused: () => true,
    },
    { field: 'key', set: (v) => ticket([nopTask(v)]), refused: () => true },
    { field: 'project', set: (v) => ticket([nopTask('t')], { project: v }), refused: () => true },
    {
      field: 'context_files',
      set: (v) => ticket([{ ...cliTask(), context_files: [v] }]),
      refused: () => false,
    },
    {
      field: 'allowed_paths',
      set: (v) => ticket([{ ...repoTask(), allowed_paths: [v] }]),
      refused: () => false,
    },
    { field: 'run', set: (v) => ticket([{ key: 't', steps: [{ run: v }] }]), refused: () => false },
    {
      field: 'solution',
      set: (v) => ticket([{ key: 't', agent: 'oracle', solution: v }]),
      refused: () => false,
    },
    { field: 'prompt', set: (v) => ticket([{ ...cliTask(), prompt: v }]), refused: () => false },
    {
      field: 'acceptance_commands',
      set: (v) => ticket([{ ...nopTask('t'), acceptance_commands: [v] }]),
      refused: () => false,
    },
  ];

export function shellMetachars(): Case[] {
  return FIELDS.flatMap(({ field, set, refused }) =>
    [...LEADING_DASH, ...METACHARS].map((v) =>
      body(
        'shell-metachars',
        `${field} = ${JSON.stringify(v)}`,
        set(v),
        refused(v) ? invalid([422], field) : valid(201),
      ),
    ),
  );
}

/** Absolute paths and `..` in the path fields: refused, naming the field. */
export function pathEscapes(): Case[] {
  const escapes = ['/etc/passwd', '../x', 'a/../../x', '..', 'src/..', '..\\x', 'a\u0000b'];
  return [
    ...escapes.map((v) =>
      body(
        'path-injection',
        `context_files = ${JSON.stringify(v)}`,
        ticket([{ ...cliTask(), context_files: [v] }]),
        invalid([422], 'context_files'),
      ),
    ),
    ...escapes
      .filter((v) => v !== '..\\x')
      .map((v) =>
        body(
          'path-injection',
          `allowed_paths = ${JSON.stringify(v)}`,
          ticket([{ ...repoTask(), allowed_paths: [v] }]),
          invalid([422], 'allowed_paths'),
        ),
      ),
    ...escapes.map((v) =>
      body(
        'path-injection',
        `steps[0].cwd = ${JSON.stringify(v)}`,
        ticket([{ key: 't', steps: [{ run: 'true', cwd: v }] }]),
        invalid([422], 'cwd'),
      ),
    ),
  ];
}

/** Names that are not stored names, as they would appear in a URL. */
const TRAVERSALS = [
  '..%2fresult.json',
  '%2e%2e%2fresult.json',
  '%252e%252e%252fresult.json',
  '..%5cresult.json',
  '..\\result.json',
  '../result.json',
  '..%2f..%2f..%2f..%2fetc%2fpasswd',
  '....%2f%2fresult.json',
  '%2fetc%2fpasswd',
  '%2Fetc%2Fpasswd',
  'C:%5cWindows%5cwin.ini',
  '..',
  '.',
  '%2e',
  '%2e%2e',
  '.hidden',
  '-rf',
  'result.json%00',
  'result.json%00.png',
  '%EF%BC%8E%EF%BC%8E%EF%BC%8Fresult.json',
  '%c0%ae%c0%ae%c0%afresult.json',
  '%u002e%u002e%u2215result.json',
  'result.json%2f',
  'result.json;x',
  '%20result.json',
  'result.json%0d%0aX-Injected:%201',
  'a'.repeat(200),
  'RESULT.JSON',
];

export function artifactTraversal(pools: Pools): Case[] {
  const endpoint = 'GET /runs/{id}/artifacts/{name}';
  const recorded = pools.artifacts.find((a) => a.name === 'result.json') ?? pools.artifacts[0];
  const runs = [recorded.run, '7b0e3f1a-0d7e-4a53-9a3c-2f1d6f9e8b11'];
  const cases: Case[] = runs.flatMap((run, i) =>
    TRAVERSALS.map((name) => ({
      endpoint,
      cls: 'artifact-traversal' as const,
      what: `${name.slice(0, 40)} (${i ? 'random run' : 'our run'})`,
      wire: http('GET', `/runs/${run}/artifacts/${name}`),
      expect: invalid([400, 404]),
    })),
  );
  cases.push({
    endpoint,
    cls: 'artifact-traversal',
    what: `the recorded ${recorded.name} itself`,
    wire: http('GET', `/runs/${recorded.run}/artifacts/${recorded.name}`),
    expect: valid(200),
  });
  return cases;
}
