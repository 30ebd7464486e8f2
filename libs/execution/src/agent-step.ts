import { open, realpath } from 'node:fs/promises';
import { constants } from 'node:fs';
import { join, sep } from 'node:path';
import { isCliAgent, type TaskSpec } from '@drover/contracts';
import { CLI_AGENTS, providerKeys, type AgentUsage } from './agents/cli-agents';
import type { RateLimit } from './agents/rate-limit';
import { agentProviders, endpointEnv, type ProviderEndpoints } from './agents/providers';
import {
  failure,
  runCommandSteps,
  stopped,
  succeeded,
  type AgentContext,
  type AgentOutcome,
} from './command-agent';
import type { OpenedSpec } from './secret-env';

/** One iteration of the agent: how it ended and what it reported. */
export interface AgentIteration {
  /** Set when the agent failed or was stopped: the run ends with this outcome. */
  failed?: AgentOutcome;
  exitCode: number | null;
  durationMs: number;
  usage: AgentUsage | null;
  /** Set when a CLI agent failed because its provider refused (rate limit, overload, quota). */
  rateLimit?: RateLimit;
}

/** Caps on the prompt a CLI agent gets (it travels in one environment variable). */
export const PROMPT_LIMITS = { contextFileBytes: 32_768, totalBytes: 120_000 };

/** Most stdout lines of a CLI agent kept for parsing its structured output. */
const MAX_PARSED_LINES = 20_000;

/** Last stderr lines of a CLI agent kept for reading its error report (a CLI ends with it). */
const MAX_STDERR_LINES = 200;

/**
 * Runs the task's agent once in the workspace: its shell steps (`command`), its
 * reference solution (`oracle`), nothing (`nop`), or a CLI agent given `prompt`
 * on stdin with only its own provider's key.
 */
export async function runAgentOnce(
  agent: string,
  spec: OpenedSpec,
  ctx: AgentContext,
  options: {
    prompt: string;
    iteration: number;
    providerEnv: Readonly<Record<string, string>>;
    /** Base URLs the runner is configured with; they override the task's env. */
    providerEndpoints?: ProviderEndpoints;
  },
): Promise<AgentIteration> {
  const started = Date.now();
  const done = (outcome: AgentOutcome, usage: AgentUsage | null = null): AgentIteration => ({
    failed: outcome.outcome === 'SUCCEEDED' ? undefined : outcome,
    exitCode: outcome.exitCode,
    durationMs: Date.now() - started,
    usage,
  });
  switch (agent) {
    case 'command':
      return done(await runCommandSteps(spec.steps ?? [], ctx));
    case 'oracle':
      return done(await runCommandSteps([{ name: 'solution', run: spec.solution ?? 'true' }], ctx));
    case 'nop':
      ctx.log('system', 'nop agent: leaves the workspace as it is');
      return { exitCode: 0, durationMs: 0, usage: null };
    default:
      if (!isCliAgent(agent)) {
        return done(failure(null, 'INVALID_SPEC', `this runner has no agent "${agent}"`));
      }
  }
  const cli = CLI_AGENTS[agent];
  const label = `${agent} (iteration ${options.iteration})`;
  ctx.log('system', `$ ${label}: ${cli.binary}${spec.model ? ` --model ${spec.model}` : ''}`);
  const stdout: string[] = [];
  const stderr: string[] = [];
  const keys = providerKeys(agent, options.providerEnv);
  const providers = agentProviders(agent, spec.model, keys);
  const result = await ctx.driver.exec(
    ctx.workspace,
    {
      script: cli.script(),
      env: {
        ...keys,
        ...ctx.env,
        // The runner's endpoints are what its `provider` egress allows; a task does not move them.
        ...endpointEnv(providers, options.providerEndpoints ?? {}),
        DROVER_PROMPT: options.prompt,
        DROVER_MODEL: spec.model ?? '',
        DROVER_ITERATION: String(options.iteration),
        // CLIs keep state in ~/.<cli>; in a container only /tmp is writable.
        ...(ctx.driver.isolated ? { HOME: '/tmp' } : {}),
      },
    },
    (stream, text) => {
      if (stream === 'stdout' && stdout.length < MAX_PARSED_LINES) stdout.push(text);
      if (stream === 'stderr' && stderr.push(text) > MAX_STDERR_LINES) stderr.shift();
      ctx.log(stream, text);
    },
    ctx.signal,
  );
  const usage = cli.parse(stdout);
  if (result.aborted) return done(stopped(label, result.exitCode, ctx.signal.reason), usage);
  if (result.exitCode !== 0) {
    const how = result.signal ? `was killed by ${result.signal}` : `exited with ${result.exitCode}`;
    const said = usage.finalMessage ? `: ${usage.finalMessage.slice(0, 500)}` : '';
    // Only a CLI that ended on its own can have given up on its provider; a kill is not that.
    const refused = result.signal ? null : cli.rateLimit({ stdout, stderr });
    if (refused) {
      return {
        ...done(rateLimited(result.exitCode, `${label} ${how}${said}`, refused), usage),
        rateLimit: refused,
      };
    }
    return done(failure(result.exitCode, 'AGENT_FAILED', `${label} ${how}${said}`), usage);
  }
  return done(succeeded(), usage);
}

/** The outcome of a CLI that gave up because its provider refused: retried, after the stated wait. */
export function rateLimited(
  exitCode: number | null,
  what: string,
  refusal: RateLimit,
): AgentOutcome {
  const wait =
    refusal.retryAfterMs === null
      ? 'it stated no retry-after'
      : `it asked to retry after ${refusal.retryAfterMs / 1000} s`;
  return {
    ...failure(
      exitCode,
      'RATE_LIMITED',
      `${what}: its provider refused (rate limit, overload or quota); ${wait}`,
    ),
    retryAfterMs: refusal.retryAfterMs,
  };
}

/**
 * The prompt of iteration `feedback.length + 1`: the task's prompt, the
 * acceptance commands it must pass, the context files, and what failed before.
 * Context files are cut first when the whole would not fit.
 */
export function composePrompt(
  spec: TaskSpec,
  context: readonly { path: string; text: string }[],
  feedback: readonly string[],
): string {
  const parts = [spec.prompt ?? ''];
  if (spec.acceptance_commands.length) {
    parts.push(
      '## Acceptance',
      'The work is done when each of these commands exits 0 in the repository root:',
      spec.acceptance_commands.map((c) => `- \`${c.split('\n')[0]}\``).join('\n'),
    );
  }
  const tail = feedback.length ? [feedback[feedback.length - 1]] : [];
  const fixed = [...parts, ...tail].join('\n\n');
  let room = PROMPT_LIMITS.totalBytes - Buffer.byteLength(fixed) - 200;
  const files: string[] = [];
  for (const file of context) {
    const block = `### ${file.path}\n\n\`\`\`\n${file.text}\n\`\`\``;
    const size = Buffer.byteLength(block);
    if (size > room) {
      files.push(`### ${file.path}\n\n(left out: the prompt is at its size limit)`);
      continue;
    }
    room -= size;
    files.push(block);
  }
  const contextPart = files.length ? ['## Context files', ...files] : [];
  return [...parts, ...contextPart, ...tail].join('\n\n');
}

/**
 * Reads the task's context files from the workspace before the agent runs: only
 * regular files inside it (a symlink out of the repository, to the runner's own
 * files, is refused), each clipped to a bound.
 */
export async function readContextFiles(
  workspace: string,
  paths: readonly string[],
): Promise<{ path: string; text: string }[]> {
  const root = await realpath(workspace);
  const files: { path: string; text: string }[] = [];
  for (const path of paths) {
    files.push({ path, text: await readInside(root, path) });
  }
  return files;
}

async function readInside(root: string, path: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(join(root, path));
  } catch {
    return '(not found in the repository)';
  }
  if (!real.startsWith(root + sep)) return '(refused: it points outside the repository)';
  let handle;
  try {
    handle = await open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return '(refused: not a regular file)';
  }
  try {
    if (!(await handle.stat()).isFile()) return '(refused: not a regular file)';
    const buffer = Buffer.alloc(PROMPT_LIMITS.contextFileBytes + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, Math.min(bytesRead, PROMPT_LIMITS.contextFileBytes)).toString();
    return bytesRead > PROMPT_LIMITS.contextFileBytes ? `${text}\n… (clipped)` : text;
  } finally {
    await handle.close();
  }
}
