import type { CommandStep, ErrorClass } from '@drover/contracts';
import type { SandboxDriver } from './sandbox-driver';

/** Abort reason of a runner giving work back (shutdown), as opposed to a cancel. */
export const RELEASE = 'release';

export interface AgentOutcome {
  outcome: 'SUCCEEDED' | 'FAILED';
  exitCode: number | null;
  errorClass: ErrorClass | null;
  errorMessage: string | null;
  result: Record<string, unknown> | null;
}

export interface AgentContext {
  workspace: string;
  driver: SandboxDriver;
  signal: AbortSignal;
  /** Writes a line to the run's log. */
  log: (stream: 'stdout' | 'stderr' | 'system', text: string) => void;
}

/**
 * The `command` agent: runs the task's shell steps in order in the workspace and
 * stops at the first that fails. Each step may set env, cwd and a timeout.
 */
export async function runCommandSteps(
  steps: readonly CommandStep[],
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
        env: step.env,
        timeoutMs: step.timeout_seconds ? step.timeout_seconds * 1000 : undefined,
      },
      (stream, text) => ctx.log(stream, text),
      ctx.signal,
    );
    if (result.aborted) {
      return ctx.signal.reason === RELEASE
        ? failure(
            result.exitCode,
            'RUNNER_LOST',
            `${label} was stopped: the runner released the run`,
          )
        : failure(result.exitCode, 'CANCELLED', `${label} was stopped`);
    }
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
  return {
    outcome: 'SUCCEEDED',
    exitCode: 0,
    errorClass: null,
    errorMessage: null,
    result: { steps: steps.length, durationMs: Date.now() - started },
  };
}

function failure(exitCode: number | null, errorClass: ErrorClass, message: string): AgentOutcome {
  return { outcome: 'FAILED', exitCode, errorClass, errorMessage: message, result: null };
}
