import type { TaskStatus } from '@drover/contracts';
import type { Cell, Experiment, ExperimentSummary, Served, Verdict } from '@drover/contracts/api';
import type { PrismaClient } from '@drover/db';
import { objectColumn } from './json-columns';
import { total, type Cost } from './ticket-queries';

interface TrialRow extends Cost {
  task_id: string;
  key: string;
  task_name: string;
  agent: string;
  model: string | null;
  trial: number;
  role: 'trial' | 'analysis';
  status: TaskStatus;
  reason: string | null;
  error: string | null;
  output: unknown;
}

const FINAL = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'BLOCKED', 'SKIPPED']);
const BASELINES = new Set(['nop', 'oracle']);

/** Read side of experiments: the matrix of pass rates, cost and tokens, verdicts per task. */
export class ExperimentQueries {
  constructor(private readonly prisma: PrismaClient) {}

  async list(projectId: string, limit: number): Promise<Served<typeof ExperimentSummary>[]> {
    const rows = await this.prisma.experiment.findMany({
      where: { projectId },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: limit,
      select: {
        id: true,
        name: true,
        agents: true,
        models: true,
        nTrials: true,
        createdAt: true,
        ticket: { select: { id: true, status: true, finishedAt: true } },
        _count: { select: { trials: { where: { role: 'trial' } } } },
      },
    });
    return rows.map(({ ticket, _count, ...e }) => ({
      ...e,
      ticketId: ticket.id,
      status: ticket.status,
      finishedAt: ticket.finishedAt,
      trials: _count.trials,
    }));
  }

  /** An experiment of the project, or null (another project's reads as absent). */
  async get(projectId: string, id: string): Promise<Served<typeof Experiment> | null> {
    const experiment = await this.prisma.experiment.findUnique({
      where: { id, projectId },
      include: { ticket: { select: { status: true, finishedAt: true } } },
    });
    if (!experiment) return null;
    const rows = await this.prisma.$queryRaw<TrialRow[]>`
      SELECT tr.task_id, t.key, tr.task_name, tr.agent, tr.model, tr.trial, tr.role::text AS role,
             t.status::text AS status, t.reason, last.error_message AS error,
             last.result -> 'output' AS output,
             u."costUsd", u."inputTokens", u."outputTokens"
      FROM trial tr JOIN task t ON t.id = tr.task_id
      LEFT JOIN LATERAL (SELECT error_message, result FROM run WHERE task_id = t.id
                         ORDER BY attempt DESC LIMIT 1) last ON true
      LEFT JOIN LATERAL (SELECT sum(cost_usd)::float8 AS "costUsd",
                                sum(input_tokens)::float8 AS "inputTokens",
                                sum(output_tokens)::float8 AS "outputTokens"
                         FROM run WHERE task_id = t.id) u ON true
      WHERE tr.experiment_id = ${id}::uuid
      ORDER BY tr.task_name, tr.agent, tr.model NULLS FIRST, tr.trial, tr.role`;
    const trials = rows.filter((r) => r.role === 'trial');
    const analyses = new Map(
      rows.filter((r) => r.role === 'analysis').map((r) => [cellKey(r, r.trial), r]),
    );
    const { ticket, analysis, ...rest } = experiment;
    return {
      ...rest,
      analysis: analysis === null ? null : objectColumn(analysis, `experiment ${id}: analysis`),
      status: ticket.status,
      finishedAt: ticket.finishedAt,
      usage: total(rows),
      matrix: cells(trials).map(({ cell, rows: of }) => ({ ...cell, ...total(of) })),
      tasks: [...group(trials, (r) => r.task_name)].map(([name, of]) => ({
        name,
        verdict: verdict(of),
        cells: cells(of).map(({ cell }) => cell),
        failures: categories(of.map((r) => analyses.get(cellKey(r, r.trial)))),
      })),
      trials: trials.map((r) => {
        const analysis = analyses.get(cellKey(r, r.trial));
        return {
          taskId: r.task_id,
          key: r.key,
          task: r.task_name,
          agent: r.agent,
          model: r.model,
          trial: r.trial,
          status: r.status,
          error: r.error ?? r.reason,
          costUsd: r.costUsd,
          inputTokens: r.inputTokens,
          outputTokens: r.outputTokens,
          analysis: analysis ? analysisOf(analysis) : null,
        };
      }),
    };
  }
}

function cellKey(r: { task_name: string; agent: string; model: string | null }, trial: number) {
  return `${r.task_name}\u0000${r.agent}\u0000${r.model ?? ''}\u0000${trial}`;
}

function group<T>(rows: readonly T[], by: (row: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const row of rows) {
    const key = by(row);
    const list = groups.get(key);
    if (list) list.push(row);
    else groups.set(key, [row]);
  }
  return groups;
}

/** Trials by agent x model, in the order they first appear. */
function cells(trials: readonly TrialRow[]): { cell: Served<typeof Cell>; rows: TrialRow[] }[] {
  return [...group(trials, (r) => `${r.agent}\u0000${r.model ?? ''}`).values()].map((rows) => {
    const finished = rows.filter((r) => FINAL.has(r.status)).length;
    const passed = rows.filter((r) => r.status === 'SUCCEEDED').length;
    return {
      cell: {
        agent: rows[0].agent,
        model: rows[0].model,
        trials: rows.length,
        finished,
        passed,
        passRate: finished ? passed / finished : null,
      },
      rows,
    };
  });
}

function verdict(trials: readonly TrialRow[]): Verdict {
  if (trials.some((r) => !FINAL.has(r.status))) return 'pending';
  const passed = (agent: (a: string) => boolean) =>
    trials.filter((r) => agent(r.agent) && r.status === 'SUCCEEDED').length;
  const count = (agent: (a: string) => boolean) => trials.filter((r) => agent(r.agent)).length;
  const oracle = (a: string) => a === 'oracle';
  if (count(oracle) && passed(oracle) < count(oracle)) return 'broken';
  if (passed((a) => a === 'nop')) return 'trivial';
  const agent = (a: string) => !BASELINES.has(a);
  if (!count(agent)) return 'baselines-only';
  const byCell = cells(trials.filter((r) => agent(r.agent)));
  if (byCell.some(({ cell }) => cell.passed === cell.trials)) return 'solved';
  return passed(agent) ? 'partial' : 'unsolved';
}

/** How an analysis classified its trial: the `category` and `summary` its run wrote. */
function analysisOf(row: TrialRow) {
  const output =
    typeof row.output === 'object' && row.output !== null
      ? (row.output as Record<string, unknown>)
      : {};
  const text = (value: unknown) => (typeof value === 'string' ? value.slice(0, 2000) : null);
  return {
    taskId: row.task_id,
    status: row.status,
    category: text(output.category),
    summary: text(output.summary),
  };
}

/** Failed trials by category (`unclassified` when the analysis wrote none). */
function categories(analyses: readonly (TrialRow | undefined)[]): Record<string, number> {
  // A Map: a category is the analysis's own text, "__proto__" included.
  const counts = new Map<string, number>();
  for (const row of analyses) {
    if (!row || row.status !== 'SUCCEEDED') continue;
    const category = analysisOf(row).category ?? 'unclassified';
    counts.set(category, (counts.get(category) ?? 0) + 1);
  }
  return Object.fromEntries(counts);
}
