/** The coding-agent CLIs Drover runs in a sandbox (docs/agents.md). */
export const CLI_AGENT_NAMES = ['claude-code', 'codex', 'gemini-cli', 'opencode', 'aider'] as const;
export type CliAgentName = (typeof CLI_AGENT_NAMES)[number];

import type { AgentOutput, RateLimit } from './rate-limit';

/** What a CLI reported about its run: null where it reports nothing or its output is unreadable. */
export interface AgentUsage {
  finalMessage: string | null;
  costUsd: number | null;
  /** Every input token the model read, cache reads and writes included. */
  inputTokens: number | null;
  /** Every output token, reasoning included. */
  outputTokens: number | null;
}

export interface CliAgent {
  readonly name: CliAgentName;
  /** Executable looked up on PATH inside the sandbox. */
  readonly binary: string;
  /** Names of the provider key variables this CLI needs; only these are passed from the runner's environment. */
  readonly keyEnv: readonly string[];
  /**
   * The script run by `/bin/sh -c` in the sandbox (cwd = the repository at /workspace), for non-interactive work.
   * The prompt is in env DROVER_PROMPT and must reach the CLI on stdin (e.g. `printf '%s' "$DROVER_PROMPT" | claude -p ...`, printf being a shell builtin) or through a file written under $TMPDIR (never the workspace) — NEVER as a command-line argument.
   * The model is in env DROVER_MODEL (may be empty: then omit the flag). Values only ever expanded inside double quotes.
   * Must work in busybox ash.
   */
  script(): string;
  /** Parses the CLI's stdout lines (its structured output) into the final message, cost and tokens where the CLI reports them; never throws on garbage (returns nulls). */
  parse(stdout: readonly string[]): AgentUsage;
  /**
   * Whether a failed run ended because the provider refused (rate limit, overload, quota):
   * read from the CLI's own error report only, never from what the model wrote, so an
   * answer that mentions a 429 is not a refusal. Called only for runs that failed.
   */
  rateLimit(output: AgentOutput): RateLimit | null;
}

export function noUsage(): AgentUsage {
  return { finalMessage: null, costUsd: null, inputTokens: null, outputTokens: null };
}

/** The prompt on the CLI's stdin: printf is a builtin, so the prompt never becomes an argv. */
export const PROMPT_ON_STDIN = `printf '%s' "$DROVER_PROMPT" |`;

/**
 * The script's lines: `set -- ARGS`, then `FLAG "$DROVER_MODEL"` appended when a model is
 * set, then `run` (which passes `"$@"` to the CLI). The only expansions are quoted ones.
 */
export function cliScript(args: string, modelFlag: string, ...run: string[]): string {
  return [
    `set -- ${args}`,
    `if [ -n "$DROVER_MODEL" ]; then set -- "$@" ${modelFlag} "$DROVER_MODEL"; fi`,
    ...run,
  ].join('\n');
}

/**
 * A line that writes `dir/name` with `content` (an object is written as JSON) unless the
 * file exists, so settings the user gave the CLI win. `dir` may hold `$HOME`-style
 * expansions; the content is single-quoted, so it must hold no single quote. Quiet when
 * HOME is not writable: the CLI then says so itself if it needs it.
 */
export function settingsFile(dir: string, name: string, content: string | object): string {
  const text = typeof content === 'string' ? content : JSON.stringify(content);
  if (text.includes("'")) throw new Error(`settings for ${name} must hold no single quote`);
  const file = `"${dir}/${name}"`;
  return `if [ ! -e ${file} ]; then { mkdir -p "${dir}" && printf '%s\\n' '${text}' > ${file}; } 2>/dev/null; fi`;
}

/** `value[path[0]][path[1]]...` through plain objects; undefined where the path breaks. */
export function get(value: unknown, ...path: string[]): unknown {
  let at = value;
  for (const key of path) {
    if (typeof at !== 'object' || at === null || Array.isArray(at)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

export const num = (value: unknown): number | null =>
  typeof value === 'number' && Number.isFinite(value) ? value : null;

export const str = (value: unknown): string | null => (typeof value === 'string' ? value : null);

/** The sum of the figures present; null when none is. */
export function total(values: readonly (number | null)[]): number | null {
  const present = values.filter((value) => value !== null);
  return present.length ? present.reduce((sum, value) => sum + value, 0) : null;
}

/** Every stdout line that is a JSON value (JSONL output); other lines, cut-off ones too, are skipped. */
export function jsonLines(stdout: readonly string[]): unknown[] {
  return stdout.flatMap((line) => {
    const text = line.trim();
    if (!text.startsWith('{')) return [];
    try {
      return [JSON.parse(text) as unknown];
    } catch {
      return [];
    }
  });
}

/** One JSON document printed over several lines, from the first line that opens it; undefined if unreadable. */
export function jsonDocument(stdout: readonly string[]): unknown {
  const start = stdout.findIndex((line) => line.trimStart().startsWith('{'));
  if (start < 0) return undefined;
  try {
    return JSON.parse(stdout.slice(start).join('\n')) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * The last JSON document printed pretty from the start of a line: `{` alone on its line
 * through the next `}` alone on its line, as Gemini CLI prints its error report (lines
 * after it, a warning say, are left out); undefined if none reads.
 */
export function lastJsonDocument(lines: readonly string[]): unknown {
  const start = lines.findLastIndex((line) => line.trimEnd() === '{');
  if (start < 0) return undefined;
  const end = lines.findIndex((line, i) => i > start && line.trimEnd() === '}');
  if (end < 0) return undefined;
  try {
    return JSON.parse(lines.slice(start, end + 1).join('\n')) as unknown;
  } catch {
    return undefined;
  }
}
