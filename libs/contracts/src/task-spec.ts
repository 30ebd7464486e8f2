import { z } from 'zod';
import { NetworkPolicy, resolveNetwork, type ResolvedNetwork } from './network-policy';
import { SEALED_FORMAT } from './secrets';

/** Agents a task can name. CLI agents take a `prompt`; `command` takes `steps`; `oracle` a `solution`. */
export const CLI_AGENTS = ['claude-code', 'codex', 'gemini-cli', 'opencode', 'aider'] as const;
export const AgentName = z.enum(['command', 'nop', 'oracle', ...CLI_AGENTS]);
export type AgentName = z.infer<typeof AgentName>;

export function isCliAgent(agent: string): agent is (typeof CLI_AGENTS)[number] {
  return (CLI_AGENTS as readonly string[]).includes(agent);
}

/** The network a task of `agent` runs with: the one it asked for, else its agent's default. */
export function taskNetwork(agent: string, network: NetworkPolicy | undefined): ResolvedNetwork {
  return resolveNetwork(isCliAgent(agent), network);
}

export const SPEC_LIMITS = {
  stepLength: 65_536,
  stepTimeoutSeconds: 7 * 24 * 3600,
  promptLength: 65_536,
  acceptanceCommands: 50,
  maxIterations: 20,
  pathGlobs: 200,
  contextFiles: 50,
  envEntries: 100,
  envValueLength: 65_536,
} as const;

export const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a valid environment variable name');

// A NUL, or a UTF-16 surrogate without its pair (JSON's "\ud800"): no command line,
// environment or Postgres column can hold one.
const UNSTORABLE = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_MESSAGE = 'must not contain NUL characters or unpaired UTF-16 surrogates';

/** False for text that holds a NUL or an unpaired surrogate. */
export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}

/** Free text (titles, commands, prompts, variable values): any characters but those. */
export const Text = (min: number, max: number) =>
  z.string().min(min).max(max).refine(isStorableText, UNSTORABLE_MESSAGE);

/**
 * Shortest secret. Runners replace secrets in their output with `***`: a shorter
 * value would match ordinary text, and the pattern of its masking would tell it.
 */
export const MIN_SECRET_LENGTH = 4;

const hasOwn = (value: unknown, key: string) =>
  typeof value === 'object' && value !== null && Object.hasOwn(value, key);

/** `{"secret": "..."}`: sealed by the orchestrator before it is stored, never shown again. */
export const SecretEnvValue = z
  .object({
    secret: Text(MIN_SECRET_LENGTH, SPEC_LIMITS.envValueLength).describe(
      `a secret value, at least ${MIN_SECRET_LENGTH} characters`,
    ),
  })
  .strict();

/** A secret as stored and sent to runners: see `sealSecret`. Written only by the orchestrator. */
export const SealedEnvValue = z
  .object({
    sealed: z
      .string()
      .max(4 * SPEC_LIMITS.envValueLength + 64)
      .regex(SEALED_FORMAT, 'must be v1.<iv>.<tag>.<ciphertext>'),
  })
  .strict();

/** A variable's value as submitted: plain text, or a secret. */
export const EnvValue = z.union([Text(0, SPEC_LIMITS.envValueLength), SecretEnvValue], {
  error: (issue) =>
    hasOwn(issue.input, 'sealed')
      ? 'sealed values are written by the orchestrator; submit {"secret": "<value>"}'
      : 'must be a string or {"secret": "<value>"}',
});
export type EnvValue = z.infer<typeof EnvValue>;

/** A variable's value as stored: plain text, or a sealed secret. */
export const StoredEnvValue = z.union([Text(0, SPEC_LIMITS.envValueLength), SealedEnvValue], {
  error: () => 'must be a string or {"sealed": "v1.<iv>.<tag>.<ciphertext>"}',
});
export type StoredEnvValue = z.infer<typeof StoredEnvValue>;

/**
 * Variables for commands, names checked by `EnvName`. zod's record skips a
 * `__proto__` key without checking its name or value, so it is refused here first.
 */
function envVars<S extends z.ZodType<Record<string, unknown>>>(record: S) {
  return z.preprocess((value, ctx) => {
    if (hasOwn(value, '__proto__')) {
      ctx.addIssue({ code: 'custom', path: ['__proto__'], message: 'is not a variable name' });
    }
    return value;
  }, record);
}

/** A relative path inside the workspace: no absolute paths, no `..`. */
export const WorkspacePath = z
  .string()
  .min(1)
  .max(1024)
  .refine((p) => !p.startsWith('/') && !p.includes('\0'), 'must be a relative path')
  .refine((p) => !p.split(/[\\/]/).includes('..'), 'must not contain ".."')
  .refine(isStorableText, UNSTORABLE_MESSAGE);

const commandStep = <V extends z.ZodType>(value: V) =>
  z
    .object({
      name: Text(1, 200).optional(),
      run: Text(1, SPEC_LIMITS.stepLength),
      env: envVars(z.record(EnvName, value)).optional(),
      cwd: WorkspacePath.optional(),
      timeout_seconds: z.number().int().positive().max(SPEC_LIMITS.stepTimeoutSeconds).optional(),
    })
    .strict();

/** A shell step as submitted (env values plain or `{secret}`). */
export const CommandStep = commandStep(EnvValue);
export type CommandStep = z.infer<typeof CommandStep>;
/** A shell step as stored and dispatched (env values plain or `{sealed}`). */
export const StoredCommandStep = commandStep(StoredEnvValue);
export type StoredCommandStep = z.infer<typeof StoredCommandStep>;

/** A task's variables, at most `SPEC_LIMITS.envEntries`, none named DROVER_*. */
const taskEnv = <V extends z.ZodType>(value: V) =>
  envVars(
    z
      .record(EnvName, value)
      .refine(
        (env) => Object.keys(env).length <= SPEC_LIMITS.envEntries,
        `at most ${SPEC_LIMITS.envEntries} variables`,
      )
      .refine(
        (env) => !Object.keys(env).some((k) => k.startsWith('DROVER_')),
        'names starting with DROVER_ are reserved',
      ),
  );

// eslint-disable-next-line no-control-regex
const CONTROL = /[\s\x00-\x1f\x7f]/;

/**
 * Why `ref` is not a ref name git would accept (the rules of git check-ref-format,
 * one-level names allowed), or undefined when it is one. The runner asks git
 * itself as well; this answers at submission.
 */
export function refNameProblem(ref: string): string | undefined {
  if (ref.length === 0) return 'must not be empty';
  if (ref.length > 1024) return 'longer than 1024 characters';
  if (ref.startsWith('-')) return "must not start with '-'";
  // Valid in a ref name, but a leading '+' makes a refspec a forced update.
  if (ref.startsWith('+')) return "must not start with '+'";
  if (CONTROL.test(ref)) return 'must not contain whitespace or control characters';
  if (!isStorableText(ref)) return UNSTORABLE_MESSAGE;
  for (const bad of ['..', '@{', '~', '^', ':', '?', '*', '[', '\\']) {
    if (ref.includes(bad)) return `must not contain '${bad}'`;
  }
  if (ref === '@') return "must not be '@'";
  if (ref.startsWith('/') || ref.endsWith('/') || ref.includes('//')) {
    return "must not start or end with '/' or contain '//'";
  }
  if (ref.endsWith('.')) return "must not end with '.'";
  for (const part of ref.split('/')) {
    if (part.startsWith('.')) return "no part of it may start with '.'";
    if (part.endsWith('.lock')) return "no part of it may end with '.lock'";
  }
  return undefined;
}

const RefName = z.string().superRefine((ref, ctx) => {
  const problem = refNameProblem(ref);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** A repository address; the runner checks it in full (scheme, host, policy) before git runs. */
const RepoAddress = z
  .string()
  .min(1)
  .max(2048)
  .refine((r) => !r.startsWith('-'), "must not start with '-'")
  .refine((r) => !CONTROL.test(r), 'must not contain whitespace or control characters')
  .refine(isStorableText, UNSTORABLE_MESSAGE)
  .refine(
    (r) => !/^[A-Za-z][A-Za-z0-9+.-]*::/.test(r),
    'git transports (such as ext::) are not allowed',
  )
  .refine(
    (r) => !/^(?:http|git):\/\//i.test(r),
    'http:// and git:// are not allowed (unencrypted); use https:// or ssh://',
  );

/** A path glob relative to the repository root (picomatch syntax, `**` for any depth). */
const PathGlob = z
  .string()
  .min(1)
  .max(1024)
  .refine((g) => !g.startsWith('/') && !g.includes('\0'), 'must be relative to the repository root')
  .refine((g) => !g.split('/').includes('..'), 'must not contain ".."')
  .refine(isStorableText, UNSTORABLE_MESSAGE);

/** `registry/name:tag` or `name@sha256:...`; nothing a shell or option parser could misread. */
const ImageRef = z
  .string()
  .min(1)
  .max(255)
  .regex(
    /^[a-z0-9][a-z0-9._\-/:]*(?:@sha256:[a-f0-9]{64})?$/,
    'must be an image reference such as "registry.example.com/team/agent:1.2"',
  );

export const Resources = z
  .object({
    memory_mb: z.number().int().min(16).max(262_144).optional(),
    cpus: z.number().min(0.05).max(256).optional(),
    pids: z.number().int().min(16).max(65_536).optional(),
    tmpfs_mb: z.number().int().min(1).max(65_536).optional(),
    /** Size of the filesystem the run's workspace (and its artifact staging) is on. */
    disk_mb: z.number().int().min(16).max(1_048_576).optional(),
  })
  .strict();
export type Resources = z.infer<typeof Resources>;

/**
 * What the runner needs to execute a task, as submitted: the agent, the
 * repository and refs, the prompt, the verification and the write policy, and
 * the sandbox. Checks that need more than one field are in `specProblems`.
 */
export const SpecFields = {
  steps: z.array(CommandStep).min(1).max(100).optional(),
  /** The oracle agent's reference solution: a shell script run in the workspace. */
  solution: Text(1, SPEC_LIMITS.stepLength).optional(),
  repo: RepoAddress.optional(),
  clone_branch: RefName.optional(),
  push_branch: RefName.optional(),
  model: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/, 'must be a model name such as "claude-sonnet-4-5"')
    .optional(),
  prompt: Text(1, SPEC_LIMITS.promptLength).optional(),
  acceptance_commands: z
    .array(Text(1, SPEC_LIMITS.stepLength))
    .max(SPEC_LIMITS.acceptanceCommands)
    .optional(),
  max_iterations: z.number().int().min(1).max(SPEC_LIMITS.maxIterations).optional(),
  allowed_paths: z.array(PathGlob).min(1).max(SPEC_LIMITS.pathGlobs).optional(),
  forbidden_paths: z.array(PathGlob).max(SPEC_LIMITS.pathGlobs).optional(),
  context_files: z.array(WorkspacePath).max(SPEC_LIMITS.contextFiles).optional(),
  /** Values are text, or `{"secret": "..."}` (sealed at rest, redacted from output). */
  env: taskEnv(EnvValue).optional(),
  image: ImageRef.optional(),
  /**
   * What the sandbox may reach: none (the default for non-CLI agents), provider
   * (the default for CLI agents), { allow: [hosts] } or open. See NetworkPolicy.
   */
  network: NetworkPolicy.optional(),
  resources: Resources.optional(),
};

const SpecObject = z.object(SpecFields);
type SpecObject = z.infer<typeof SpecObject>;

export interface SpecProblem {
  path: string;
  message: string;
}

/** Checks across fields of a task's spec for `agent`; an empty list when it is whole. */
export function specProblems(agent: AgentName, spec: SpecObject): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const only = (field: keyof SpecObject, who: string, ok: boolean) => {
    if (spec[field] !== undefined && !ok) {
      problems.push({
        path: field,
        message: `only ${who} take${who.endsWith('s') ? '' : 's'} ${field}`,
      });
    }
  };
  const needs = (field: keyof SpecObject, ok: boolean) => {
    if (ok && spec[field] === undefined) {
      problems.push({ path: field, message: `is required for the ${agent} agent` });
    }
  };
  const cli = isCliAgent(agent);
  needs('steps', agent === 'command');
  only('steps', 'the command agent', agent === 'command');
  needs('solution', agent === 'oracle');
  only('solution', 'the oracle agent', agent === 'oracle');
  needs('prompt', cli);
  only('prompt', 'CLI agents', cli);
  only('model', 'CLI agents', cli);
  only('context_files', 'CLI agents', cli);
  if (spec.network === 'provider' && !cli) {
    problems.push({
      path: 'network',
      message: `the ${agent} agent has no model provider: use none, open or { allow: [hosts] }`,
    });
  }
  if (spec.repo === undefined) {
    const needRepo = [
      'clone_branch',
      'push_branch',
      'context_files',
      'allowed_paths',
      'forbidden_paths',
    ] as const;
    for (const field of needRepo) {
      if (spec[field] !== undefined) {
        problems.push({ path: field, message: 'needs repo: there is no repository without it' });
      }
    }
  }
  if (spec.push_branch === 'HEAD' || spec.push_branch?.startsWith('refs/tags/')) {
    problems.push({ path: 'push_branch', message: 'must be a branch name' });
  }
  return problems;
}

/**
 * What a runner gets to execute a task; stored as the task's `spec`. Secrets in
 * it are sealed: the orchestrator seals them (`sealSecret`) before parsing this.
 */
export const TaskSpec = SpecObject.extend({
  steps: z.array(StoredCommandStep).min(1).max(100).optional(),
  env: taskEnv(StoredEnvValue).optional(),
  acceptance_commands: z.array(z.string()).default([]),
  max_iterations: z.number().int().min(1).max(SPEC_LIMITS.maxIterations).default(1),
  /** Set by the orchestrator (`taskNetwork`); a boolean or nothing in specs stored before. */
  network: NetworkPolicy.optional(),
  /**
   * Upstream outputs its commands' templates refer to, as variables: the
   * orchestrator renders `{{steps.lint.output.n}}` in a command as
   * `${DROVER_STEP_LINT_OUTPUT_N}` and puts the value here, so that no output
   * ever reaches a shell's parser.
   */
  template_env: z
    .record(
      z.string().regex(/^DROVER_STEP_[A-Z0-9_]{1,200}$/, 'must be DROVER_STEP_<NAME>'),
      z.string().max(SPEC_LIMITS.envValueLength),
    )
    .optional(),
  /** The upstream step whose workspace this one starts from; the orchestrator sets `workspace_run`. */
  workspace_from: z.string().optional(),
  /**
   * Set by the orchestrator on a step whose workspace a later step inherits:
   * the runner stores the workspace as the run leaves it (`workspace.tar.gz`).
   */
  keep_workspace: z.boolean().optional(),
  /**
   * Set by the orchestrator on a step that inherits a workspace: the run (of the
   * upstream step) whose `workspace.tar.gz` it starts from, instead of `repo`.
   */
  workspace_run: z.uuid().optional(),
});
export type TaskSpec = z.infer<typeof TaskSpec>;
