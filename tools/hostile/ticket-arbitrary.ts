// Valid tickets for POST /tickets: every leaf from the OpenAPI schema; what the schema
// cannot say (which fields an agent takes, what needs a repository, the shape of a
// repository address or a ref, paths, a graph without cycles) from the rules below.
import fc from 'fast-check';
import { isCliAgent } from '@drover/contracts';
import { schemaAt, type JsonSchema } from './openapi';
import { arbitraryFor, envName, stringFor, text } from './schema-arbitrary';
import type { Json, JsonObject } from './types';

/**
 * How the contract treats each string field, beyond the document's schema:
 * - text: free text (titles, commands, prompts, variable values): any character but
 *   NUL and unpaired surrogates; control characters are fine.
 * - path: relative paths and globs: any character but NUL and unpaired surrogates;
 *   not absolute, no `..`. Read by the runner from the workspace, never a command line.
 * - git: repository address and refs: no whitespace, no control character, no
 *   leading `-`; git gets them as arguments after `--`, never through a shell.
 * - ident: a fixed alphabet (keys, slugs, model, image, enums, durations).
 */
export type FieldKind = 'text' | 'path' | 'git' | 'ident';
export const FIELD_KINDS: Record<string, FieldKind> = {
  title: 'text',
  name: 'text',
  run: 'text',
  solution: 'text',
  prompt: 'text',
  acceptance_commands: 'text',
  env: 'text',
  cwd: 'path',
  context_files: 'path',
  allowed_paths: 'path',
  forbidden_paths: 'path',
  repo: 'git',
  clone_branch: 'git',
  push_branch: 'git',
  key: 'ident',
  depends_on: 'ident',
  project: 'ident',
  model: 'ident',
  image: 'ident',
  agent: 'ident',
  timeout: 'ident',
  retry_on: 'ident',
};

/** The one project a fresh database has; any other slug is answered 422 UNKNOWN_PROJECT. */
export const PROJECT = 'default';

const segment = fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,11}$/);

/** https://, ssh:// and scp-style addresses on hosts that are never contacted (no runner runs). */
export const repoAddress = fc
  .tuple(fc.constantFrom('https://', 'ssh://git@', 'git@'), segment, segment, segment)
  .map(([scheme, host, team, name]) =>
    scheme === 'git@'
      ? `git@${host}.example.com:${team}/${name}.git`
      : `${scheme}${host}.example.com/${team}/${name}.git`,
  );

/** Branch names git accepts (`feature/x`), never `HEAD` nor ending in `.lock`. */
export const branch = fc
  .array(segment, { minLength: 1, maxLength: 3 })
  .map((parts) => parts.join('/'))
  .filter((b) => b !== 'HEAD' && !b.endsWith('.lock'));

/** Relative paths inside the workspace. */
export const relativePath = fc
  .array(fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9._ -]{0,15}$/), { minLength: 1, maxLength: 3 })
  .map((parts) => parts.join('/'))
  .filter((p) => !p.split('/').includes('..'));

const glob = fc.oneof(
  relativePath,
  segment.map((s) => `${s}/**`),
  fc.constant('**/*.{ts,tsx}'),
);

/**
 * A `timeout`: seconds, or "90s" / "30m" / "2h" (the document's pattern), at most
 * `maxSeconds` either way (which the pattern cannot say).
 */
function duration(maxSeconds: number): fc.Arbitrary<Json> {
  const units: [string, number][] = [
    ['s', 1],
    ['m', 60],
    ['h', 3600],
  ];
  return fc.oneof(
    fc.integer({ min: 1, max: maxSeconds }),
    fc
      .constantFrom(...units)
      .chain(([unit, size]) =>
        fc.integer({ min: 1, max: Math.floor(maxSeconds / size) }).map((n) => `${n}${unit}`),
      ),
  );
}

export function envMap(value: fc.Arbitrary<string>): fc.Arbitrary<JsonObject> {
  return fc.dictionary(envName, value, { maxKeys: 4 });
}

/** Valid tickets: 1 to 6 tasks, each depending only on earlier ones. */
export function validTicket(root: JsonSchema): fc.Arbitrary<JsonObject> {
  const leaf = (path: string) => arbitraryFor(schemaAt(root, path));
  const parts = taskParts(root);
  return fc
    .record(
      {
        title: leaf('title'),
        project: fc.constant(PROJECT),
        priority: leaf('priority'),
        keys: fc.uniqueArray(stringFor(schemaAt(root, 'tasks.key')), {
          minLength: 1,
          maxLength: 6,
        }),
      },
      { requiredKeys: ['title', 'keys'] },
    )
    .chain(({ keys, ...ticket }) =>
      fc
        .tuple(...keys.map((key, i) => validTask(parts, key, keys.slice(0, i))))
        .map((tasks): JsonObject => ({ ...ticket, tasks })),
    );
}

interface TaskParts {
  agents: string[];
  /** What each agent requires: `steps` (command), `solution` (oracle), `prompt` (CLI agents). */
  own: Record<string, fc.Arbitrary<JsonObject>>;
  common: fc.Arbitrary<JsonObject>;
  timing: fc.Arbitrary<JsonObject>;
  /** A repository with its refs and write policy, or none; `true`: with context files. */
  repository: Record<'cli' | 'other', fc.Arbitrary<JsonObject>>;
  /** A network policy, or none; `provider` only for CLI agents (others have no provider). */
  network: Record<'cli' | 'other', fc.Arbitrary<JsonObject>>;
}

const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,8}[a-z0-9]$/);

/** Allowlist entries: `name.example`, `*.name.example`, with a port or not. */
const hostPattern = fc
  .tuple(fc.constantFrom('', '*.'), label, fc.option(fc.integer({ min: 1, max: 65_535 })))
  .map(([wildcard, name, port]) => `${wildcard}${name}.example${port ? `:${port}` : ''}`);

/** The network policies every agent takes: `none`, `open`, their boolean forms, an allowlist. */
const networkPolicy = fc.oneof(
  fc.constantFrom<Json>('none', 'open', true, false),
  fc.record({ allow: fc.array(hostPattern, { minLength: 1, maxLength: 3 }) }),
);

/** The arbitraries of a task's parts, built once. */
function taskParts(root: JsonSchema): TaskParts {
  const leaf = (path: string) => arbitraryFor(schemaAt(root, `tasks.${path}`));
  const agents = schemaAt(root, 'tasks.agent').enum?.map(String) ?? ['command'];
  const step = fc.record(
    {
      run: leaf('steps.run'),
      name: leaf('steps.name'),
      env: envMap(text(0, 64)),
      cwd: relativePath,
      timeout_seconds: leaf('steps.timeout_seconds'),
    },
    { requiredKeys: ['run'] },
  );
  const cli = fc.record(
    { prompt: leaf('prompt'), model: leaf('model') },
    { requiredKeys: ['prompt'] },
  );
  const own: Record<string, fc.Arbitrary<JsonObject>> = {
    command: fc.record({ steps: fc.array(step, { minLength: 1, maxLength: 3 }) }),
    oracle: fc.record({ solution: leaf('solution') }),
    nop: fc.constant({}),
  };
  for (const agent of agents) own[agent] ??= cli;
  const some = <T>(arb: fc.Arbitrary<T>) => fc.array(arb, { minLength: 1, maxLength: 3 });
  const repository = (withContext: boolean) =>
    fc.oneof(
      fc.constant({}),
      fc.record(
        {
          repo: repoAddress,
          clone_branch: branch,
          push_branch: branch,
          allowed_paths: some(glob),
          forbidden_paths: some(glob),
          ...(withContext ? { context_files: some(relativePath) } : {}),
        },
        { requiredKeys: ['repo'] },
      ),
    );
  return {
    agents,
    own,
    common: fc.record(
      {
        title: leaf('title'),
        priority: leaf('priority'),
        acceptance_commands: leaf('acceptance_commands'),
        max_iterations: leaf('max_iterations'),
        env: envMap(text(0, 64)),
        image: leaf('image'),
        resources: leaf('resources'),
        retry: leaf('retry'),
      },
      { requiredKeys: [] },
    ),
    timing: fc.oneof(
      fc.constant({}),
      fc.record({ timeout_seconds: leaf('timeout_seconds') }),
      fc.record({ timeout: duration(schemaAt(root, 'tasks.timeout_seconds').maximum ?? 3600) }),
    ),
    repository: { cli: repository(true), other: repository(false) },
    network: {
      cli: fc
        .option(fc.oneof(networkPolicy, fc.constant<Json>('provider')), { nil: undefined })
        .map((network): JsonObject => (network === undefined ? {} : { network })),
      other: fc
        .option(networkPolicy, { nil: undefined })
        .map((network): JsonObject => (network === undefined ? {} : { network })),
    },
  };
}

/** A valid task `key` whose dependencies are among `earlier`. */
function validTask(parts: TaskParts, key: string, earlier: string[]): fc.Arbitrary<Json> {
  return fc.constantFrom(...parts.agents).chain((agent) =>
    fc
      .tuple(
        parts.own[agent],
        parts.common,
        parts.timing,
        parts.repository[isCliAgent(agent) ? 'cli' : 'other'],
        fc.subarray(earlier),
        fc.boolean(),
        parts.network[isCliAgent(agent) ? 'cli' : 'other'],
      )
      .map(([own, shared, time, repo, dependsOn, spellAgent, network]): Json => ({
        key,
        ...(agent !== 'command' || spellAgent ? { agent } : {}),
        ...(dependsOn.length ? { depends_on: dependsOn } : {}),
        ...own,
        ...shared,
        ...time,
        ...repo,
        ...network,
      })),
  );
}

/** The smallest valid task: a `nop`. */
export const nopTask = (key: string, dependsOn: string[] = []): JsonObject => ({
  key,
  agent: 'nop',
  ...(dependsOn.length ? { depends_on: dependsOn } : {}),
});
