// result.json as a runner writes it (libs/execution run-executor), read
// defensively: it is shown, never trusted, and a field of the wrong type is left out.

export interface AcceptanceRow {
  command: string;
  passed: boolean;
  exitCode: number | null;
  durationMs: number | null;
}

export interface IterationRow {
  iteration: number;
  agentExitCode: number | null;
  agentDurationMs: number | null;
  costUsd: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  acceptance: AcceptanceRow[];
}

export interface RunResult {
  agent: string | null;
  model: string | null;
  outcome: string | null;
  iterations: number | null;
  acceptancePassed: boolean | null;
  filesChanged: number | null;
  durationMs: number | null;
  costUsd: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  pushed: { branch: string; commit: string } | null;
  details: IterationRow[];
}

type Loose = Record<string, unknown>;

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const bool = (v: unknown): boolean | null => (typeof v === 'boolean' ? v : null);
const obj = (v: unknown): Loose | null =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : null;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** A run's result (result.json, or the run's summary when that is all there is). */
export function readRunResult(raw: unknown): RunResult | null {
  const r = obj(raw);
  if (!r) return null;
  const pushed = obj(r.pushed);
  const changed = r.filesChanged;
  return {
    agent: str(r.agent),
    model: str(r.model),
    outcome: str(r.outcome),
    iterations: num(r.iterations),
    acceptancePassed: bool(r.acceptancePassed),
    filesChanged: Array.isArray(changed) ? changed.length : num(changed),
    durationMs: num(r.durationMs),
    costUsd: num(r.costUsd),
    inputTokens: num(r.inputTokens),
    outputTokens: num(r.outputTokens),
    pushed:
      pushed && str(pushed.branch) && str(pushed.commit)
        ? { branch: str(pushed.branch) ?? '', commit: str(pushed.commit) ?? '' }
        : null,
    details: list(r.iterationDetails).flatMap((item, i) => {
      const it = obj(item);
      if (!it) return [];
      const agent = obj(it.agent) ?? {};
      return [
        {
          iteration: num(it.iteration) ?? i + 1,
          agentExitCode: num(agent.exitCode),
          agentDurationMs: num(agent.durationMs),
          costUsd: num(agent.costUsd),
          inputTokens: num(agent.inputTokens),
          outputTokens: num(agent.outputTokens),
          acceptance: list(it.acceptance).flatMap((a) => {
            const row = obj(a);
            const command = row && str(row.command);
            return row && command !== null
              ? [
                  {
                    command,
                    passed: row.passed === true,
                    exitCode: num(row.exitCode),
                    durationMs: num(row.durationMs),
                  },
                ]
              : [];
          }),
        },
      ];
    }),
  };
}
