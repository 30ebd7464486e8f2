import type { ErrorClass, InputAsk, RunOutcome, StopReason } from '@drover/contracts';
import type { OpenedStep } from './secret-env';
import type { SandboxDriver } from './sandbox-driver';

/** Abort reason of a runner giving work back (shutdown), as opposed to a cancel. */
export const RELEASE = 'RELEASE';

/** Why a run's abort signal fired: the runner releases it, or the control plane stops it. */
export type AbortReason = typeof RELEASE | StopReason;

export interface AgentOutcome {
  outcome: RunOutcome;
  exitCode: number | null;
  errorClass: ErrorClass | null;
  errorMessage: string | null;
  result: Record<string, unknown> | null;
  /** NEEDS_INPUT: what the run asks a person for. */
  input?: InputAsk;
  /** RATE_LIMITED: the wait the provider stated (ms, clamped), or null when it stated none. */
  retryAfterMs?: number | null;
}

export interface AgentContext {
  workspace: string;
  driver: SandboxDriver;
  signal: AbortSignal;
  /** Writes a line to the run's log. */
  log: (stream: 'stdout' | 'stderr' | 'system', text: string) => void;
  /** Set in every command's environment (which run this is), over the step's own. */
  env?: Readonly<Record<string, string>>;
}

/**
 * The `command` agent: runs the task's shell steps in order in the workspace and
 * stops at the first that fails. Each step may set env, cwd and a timeout.
 */
export async function runCommandSteps(
  steps: readonly OpenedStep[],
  ctx: AgentContext,
): Promise<AgentOutcome> {
  const started = Date.now();
  for (const [index, step] of steps.entries()) {
    const label = step.name ?? `step ${index + 1}`;
    ctx.log('system', `$ ${label}: ${step.run.split('\n')[0]}`);
    const result = await ctx.driver.exec(
      ctx.workspace,
      {
        script: step.run,
        cwd: step.cwd,
        env: { ...step.env, ...ctx.env },
        timeoutMs: step.timeout_seconds ? step.timeout_seconds * 1000 : undefined,
      },
      (stream, text) => ctx.log(stream, text),
      ctx.signal,
    );
    if (result.aborted) return stopped(label, result.exitCode, ctx.signal.reason);
    if (result.timedOut) {
      return failure(
        result.exitCode,
        'TIMEOUT',
        `${label} timed out after ${step.timeout_seconds} s`,
      );
    }
    if (result.exitCode !== 0) {
      const how = result.signal
        ? `was killed by ${result.signal}`
        : `exited with ${result.exitCode}`;
      return failure(result.exitCode, 'AGENT_FAILED', `${label} ${how}`);
    }
  }
  return { ...succeeded(), result: { steps: steps.length, durationMs: Date.now() - started } };
}

export function succeeded(): AgentOutcome {
  return { outcome: 'SUCCEEDED', exitCode: 0, errorClass: null, errorMessage: null, result: null };
}

/** The outcome of a step its run's abort signal stopped, by the signal's reason. */
export function stopped(label: string, exitCode: number | null, reason: unknown): AgentOutcome {
  switch (reason as AbortReason) {
    case RELEASE:
      return {
        ...failure(exitCode, 'RUNNER_LOST', `${label} was stopped: the runner released the run`),
        outcome: 'RELEASED',
      };
    case 'TIMEOUT':
      return failure(exitCode, 'TIMEOUT', `${label} was stopped: the task's timeout passed`);
    case 'LEASE_LOST':
      return failure(exitCode, 'RUNNER_LOST', `${label} was stopped: the runner lost the lease`);
    case 'CANCELLED':
    default:
      // Aborted for no stated reason: only a cancel does that.
      return failure(exitCode, 'CANCELLED', `${label} was stopped: the run was cancelled`);
  }
}

export function failure(
  exitCode: number | null,
  errorClass: ErrorClass,
  message: string,
): AgentOutcome {
  return { outcome: 'FAILED', exitCode, errorClass, errorMessage: message, result: null };
}
