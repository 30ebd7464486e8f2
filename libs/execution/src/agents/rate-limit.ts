import { MAX_RETRY_AFTER_MS } from '@drover/contracts';

/**
 * A provider refused the CLI's requests (HTTP 429, Anthropic's 529 overloaded, an
 * exhausted quota) and the CLI gave up: the run ends RATE_LIMITED. `retryAfterMs` is
 * the wait the provider or the CLI stated last, clamped to MAX_RETRY_AFTER_MS; null
 * when none was stated or it could not be read.
 */
export interface RateLimit {
  retryAfterMs: number | null;
}

/** What a CLI printed: its stdout lines and the last of its stderr lines. */
export interface AgentOutput {
  stdout: readonly string[];
  stderr: readonly string[];
}

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1000,
  sec: 1000,
  secs: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  mins: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
};

const NUMBER = String.raw`\d{1,9}(?:\.\d{1,6})?`;
const UNIT = String.raw`(?:ms|milliseconds?|seconds?|secs?|s|minutes?|mins?|m|hours?|h)`;
/** `3s`, `37.2s`, `1m20s`, `250ms`, `3 seconds`: a Go-style duration or a number and a word. */
const DURATION = String.raw`((?:${NUMBER}\s?${UNIT}(?![a-z]))+)`;

/**
 * The ways providers and CLIs state a wait, each giving a duration (group 1) or, for the
 * `retry-after` header, plain seconds (group 2).
 */
const STATEMENTS: readonly RegExp[] = [
  // The header as a CLI prints it: `retry-after: 3`, or in JSON `"retry-after":"3"`.
  new RegExp(String.raw`\bretry-after"?\s*[:=]\s*"?()(${NUMBER})(?![\d.a-z])`, 'gi'),
  // OpenAI's "Please try again in 3s.", Anthropic's and others' "retry in 37.2s",
  // Gemini CLI's "Suggested retry after 3s.".
  new RegExp(String.raw`\b(?:try again|retry(?: again)?) (?:in|after) ${DURATION}`, 'gi'),
  // google.rpc.RetryInfo: `"retryDelay": "3s"` (a protobuf Duration: seconds only).
  new RegExp(String.raw`"retryDelay"\s*:\s*"(${NUMBER}s)"`, 'g'),
];

/** Milliseconds of a duration such as `3s`, `1m20s`, `250ms`, `3 seconds`; null if unreadable. */
export function durationMs(text: string): number | null {
  const parts = [...text.matchAll(new RegExp(String.raw`(${NUMBER})\s?(${UNIT})`, 'gi'))];
  if (!parts.length) return null;
  let total = 0;
  for (const [, value, unit] of parts) total += Number(value) * UNIT_MS[unit.toLowerCase()];
  return Number.isFinite(total) ? total : null;
}

/** A stated wait made safe: whole milliseconds from 0 to MAX_RETRY_AFTER_MS. */
export function clampRetryAfter(ms: number): number {
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, Math.ceil(ms)));
}

/**
 * The last wait stated in `texts` (the most recent is what the provider means now),
 * clamped; null when none is stated. The text comes from the sandbox: anything that
 * does not read as a duration is ignored, and no value exceeds MAX_RETRY_AFTER_MS.
 */
export function statedRetryAfter(texts: readonly string[]): number | null {
  let found: number | null = null;
  for (const text of texts) {
    // Long lines are the CLIs' request dumps, not their statements: the head is enough.
    const head = text.slice(0, 16_384);
    let last: { index: number; ms: number } | null = null;
    for (const pattern of STATEMENTS) {
      for (const match of head.matchAll(pattern)) {
        const ms = match[1] ? durationMs(match[1]) : Number(match[2]) * 1000;
        if (ms === null || !Number.isFinite(ms)) continue;
        if (!last || match.index >= last.index) last = { index: match.index, ms };
      }
    }
    if (last) found = last.ms;
  }
  return found === null ? null : clampRetryAfter(found);
}

/** HTTP statuses of a provider refusing for load or quota: 429, and Anthropic's 529 overloaded. */
export const REFUSED_STATUSES: readonly number[] = [429, 529];

/** Error types and codes the providers send when they refuse for rate, load or quota. */
const REFUSAL_CODES =
  /\b(?:rate_limit_error|overloaded_error|rate_limit_exceeded|insufficient_quota|RESOURCE_EXHAUSTED)\b/;

/** Whether a provider's error text (a body, a type, a code) names a rate, load or quota refusal. */
export function namesRefusal(text: string): boolean {
  return REFUSAL_CODES.test(text);
}
