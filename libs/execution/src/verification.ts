import type { AgentContext } from './command-agent';

/** What an acceptance command did in one iteration. */
export interface AcceptanceResult {
  command: string;
  exitCode: number | null;
  signal: string | null;
  passed: boolean;
  durationMs: number;
}

export interface AcceptanceRound {
  results: AcceptanceResult[];
  /** The first command that failed, with the head and tail of its output. */
  failed?: { result: AcceptanceResult; output: string };
  /** The run's abort signal stopped a command. */
  aborted: boolean;
}

/** Bounds on what of a failing command's output goes back to the agent. */
export const FEEDBACK = { headLines: 40, tailLines: 80, lineChars: 500, totalChars: 16_384 };

/**
 * Keeps the first and the last lines of a stream of output and how many were
 * left out between them, with every line and the whole clipped to bounds.
 */
export class HeadAndTail {
  private readonly head: string[] = [];
  private tail: string[] = [];
  private dropped = 0;

  push(line: string): void {
    const clipped =
      line.length > FEEDBACK.lineChars ? `${line.slice(0, FEEDBACK.lineChars)}…` : line;
    if (this.head.length < FEEDBACK.headLines) {
      this.head.push(clipped);
      return;
    }
    this.tail.push(clipped);
    if (this.tail.length > FEEDBACK.tailLines) {
      this.tail = this.tail.slice(-FEEDBACK.tailLines);
      this.dropped++;
    }
  }

  toString(): string {
    const gap = this.dropped ? [`… (${this.dropped} lines left out) …`] : [];
    const text = [...this.head, ...gap, ...this.tail].join('\n');
    if (text.length <= FEEDBACK.totalChars) return text;
    const half = FEEDBACK.totalChars / 2;
    return `${text.slice(0, half)}\n… (output clipped) …\n${text.slice(-half)}`;
  }
}

/**
 * Runs the acceptance commands in order in the sandbox, each in the workspace,
 * stopping at the first that fails (the ones after it are not run: the agent
 * gets one failure to fix at a time).
 */
export async function runAcceptance(
  commands: readonly string[],
  ctx: AgentContext,
  iteration: number,
): Promise<AcceptanceRound> {
  const results: AcceptanceResult[] = [];
  for (const [index, command] of commands.entries()) {
    const label = `acceptance ${index + 1}/${commands.length}`;
    ctx.log('system', `$ ${label} (iteration ${iteration}): ${command.split('\n')[0]}`);
    const output = new HeadAndTail();
    const started = Date.now();
    const run = await ctx.driver.exec(
      ctx.workspace,
      { script: command, env: ctx.env },
      (stream, text) => {
        output.push(text);
        ctx.log(stream, text);
      },
      ctx.signal,
    );
    const result: AcceptanceResult = {
      command,
      exitCode: run.exitCode,
      signal: run.signal,
      passed: run.exitCode === 0 && !run.aborted,
      durationMs: Date.now() - started,
    };
    results.push(result);
    if (run.aborted) return { results, aborted: true };
    ctx.log('system', `${label} ${result.passed ? 'passed' : `failed (${exitText(result)})`}`);
    if (!result.passed)
      return { results, failed: { result, output: output.toString() }, aborted: false };
  }
  return { results, aborted: false };
}

export function exitText(result: Pick<AcceptanceResult, 'exitCode' | 'signal'>): string {
  return result.signal ? `killed by ${result.signal}` : `exit ${result.exitCode}`;
}

/** The part of the next iteration's prompt that says what failed. */
export function failureFeedback(
  iteration: number,
  failed: NonNullable<AcceptanceRound['failed']>,
): string {
  return [
    `## Iteration ${iteration} did not pass the acceptance checks`,
    '',
    `This command failed (${exitText(failed.result)}):`,
    '',
    '```sh',
    failed.result.command,
    '```',
    '',
    'Its output (first and last lines):',
    '',
    '```',
    failed.output,
    '```',
    '',
    'Fix the cause in the repository so that every acceptance command passes.',
  ].join('\n');
}
