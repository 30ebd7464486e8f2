import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Logger } from '@nestjs/common';
import type { LogLine, RunDispatched } from '@drover/contracts';
import { runCommandSteps, type AgentOutcome } from './command-agent';
import { LogBuffer } from './log-buffer';
import type { SandboxDriver } from './sandbox-driver';

/**
 * How a runner tells the control plane about a run it was granted; every report
 * carries the lease.
 */
export interface RunReporter {
  log(work: RunDispatched, firstLine: number, lines: LogLine[]): Promise<void>;
  finished(work: RunDispatched, outcome: AgentOutcome, finishedAt: Date): Promise<void>;
}

export interface ExecutorOptions {
  workdir: string;
  driver: SandboxDriver;
  reporter: RunReporter;
  logFlushMs: number;
  keepWorkspaces: boolean;
}

/**
 * Executes one leased run (already granted to this runner): a fresh workspace,
 * the agent, its output streamed as
 * numbered log batches, then the outcome. Logs are flushed before the finish
 * report so the control plane has every line when the run ends.
 */
export class RunExecutor {
  private readonly logger = new Logger(RunExecutor.name);

  constructor(private readonly options: ExecutorOptions) {}

  async execute(work: RunDispatched, signal: AbortSignal): Promise<AgentOutcome> {
    const { reporter, driver } = this.options;
    await mkdir(this.options.workdir, { recursive: true });
    const workspace = await mkdtemp(join(this.options.workdir, `run-${work.runId}-`));
    const logs = new LogBuffer(
      (first, lines) => reporter.log(work, first, lines),
      this.options.logFlushMs,
    );
    let outcome: AgentOutcome;
    try {
      if (!driver.isolated) logs.push('system', `sandbox: ${driver.name} (NOT ISOLATED)`);
      outcome = await this.runAgent(work, {
        workspace,
        driver,
        signal,
        log: (s, t) => logs.push(s, t),
        env: {
          DROVER_RUN_ID: work.runId,
          DROVER_TASK_ID: work.taskId,
          DROVER_TICKET_ID: work.ticketId,
          DROVER_ATTEMPT: String(work.attempt),
        },
      });
    } catch (error) {
      this.logger.error(`run ${work.runId} failed in the runner: ${(error as Error).message}`);
      outcome = {
        outcome: 'FAILED',
        exitCode: null,
        errorClass: 'INFRA',
        errorMessage: `runner error: ${(error as Error).message}`,
        result: null,
      };
    }
    logs.push('system', outcome.errorMessage ?? `run ${outcome.outcome.toLowerCase()}`);
    await logs.flush();
    await reporter.finished(work, outcome, new Date());
    if (!this.options.keepWorkspaces) {
      await rm(workspace, { recursive: true, force: true }).catch((error: Error) =>
        this.logger.warn(`could not remove workspace ${workspace}: ${error.message}`),
      );
    }
    return outcome;
  }

  private runAgent(work: RunDispatched, ctx: Parameters<typeof runCommandSteps>[1]) {
    switch (work.agent) {
      case 'command':
        return runCommandSteps(work.spec.steps, ctx);
      default:
        return Promise.resolve<AgentOutcome>({
          outcome: 'FAILED',
          exitCode: null,
          errorClass: 'INVALID_SPEC',
          errorMessage: `this runner has no agent "${work.agent}"`,
          result: null,
        });
    }
  }
}
