import { z } from 'zod';

export const TicketStatus = z.enum(['PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED']);
export type TicketStatus = z.infer<typeof TicketStatus>;

export const TaskStatus = z.enum([
  'PENDING',
  'READY',
  'DISPATCHED',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'RETRY_WAIT',
  'BLOCKED',
  'AWAITING_APPROVAL',
  'AWAITING_INPUT',
  'SKIPPED',
]);
export type TaskStatus = z.infer<typeof TaskStatus>;

export const RunStatus = z.enum([
  'DISPATCHED',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'NEEDS_INPUT',
]);
export type RunStatus = z.infer<typeof RunStatus>;

export const ErrorClass = z.enum([
  'RUNNER_LOST',
  'INFRA',
  'TIMEOUT',
  'RATE_LIMITED',
  'AGENT_FAILED',
  'ACCEPTANCE_FAILED',
  'INVALID_SPEC',
  'POLICY_VIOLATION',
  'CANCELLED',
]);
export type ErrorClass = z.infer<typeof ErrorClass>;

/** Error classes retried by default: failures of the machinery, not of the work. */
export const RETRYABLE_BY_DEFAULT: readonly ErrorClass[] = [
  'RUNNER_LOST',
  'INFRA',
  'TIMEOUT',
  'RATE_LIMITED',
];

/**
 * The longest wait before a retry that a provider's (or its CLI's) stated retry-after can
 * ask for. The figure comes out of the sandbox: a longer or unreadable one is not trusted,
 * and a provider that is still refusing after it costs the task one more attempt.
 */
export const MAX_RETRY_AFTER_MS = 15 * 60_000;

/** The run status a failed run ends in, by its error class. */
export function runStatusForError(errorClass: ErrorClass): RunStatus {
  if (errorClass === 'TIMEOUT') return 'TIMED_OUT';
  if (errorClass === 'CANCELLED') return 'CANCELLED';
  return 'FAILED';
}

/** What a task's failure does to its dependents: `stop` blocks them, `continue` lets them run. */
export const OnFailure = z.enum(['stop', 'continue']);
export type OnFailure = z.infer<typeof OnFailure>;

export const RunnerStatus = z.enum(['ONLINE', 'STALE', 'OFFLINE']);
export type RunnerStatus = z.infer<typeof RunnerStatus>;

/** Task states from which a task never moves again. */
export const TERMINAL_TASK_STATUSES: readonly TaskStatus[] = [
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'BLOCKED',
  'SKIPPED',
];

export const AGENT_PROVIDERS: Readonly<Record<string, string>> = {
  'claude-code': 'claude',
  codex: 'openai',
  'gemini-cli': 'gemini',
};

/** The provider whose concurrency limit an agent's runs count against. */
export function providerForAgent(agent: string): string {
  return AGENT_PROVIDERS[agent] ?? 'default';
}

/** Final statuses a rerun starts again: the task did not succeed (nor was it skipped). */
export const RERUNNABLE_TASK_STATUSES: readonly TaskStatus[] = [
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'BLOCKED',
];
