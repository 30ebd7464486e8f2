import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { DroverApiError, type CreateExperimentBody, type Experiment } from '@drover/client';
import type { DroverApi } from './api-client';
import { EXIT, isNotFound, UsageError } from './errors';
import { followTickets } from './follow';
import { expandPaths, readTicketFile } from './paths';
import { bold, dim, formatDuration, print, status, table, type Output } from './render';

export interface SweepOptions extends Output {
  agents: string[];
  models?: string[];
  trials: number;
  name?: string;
  /** A command, or a file whose text is the command. */
  analysis?: string;
  analysisAgent?: string;
  analysisModel?: string;
  wait: boolean;
}

const FORMATS: Readonly<Record<string, 'markdown' | 'yaml' | 'json'>> = {
  '.md': 'markdown',
  '.markdown': 'markdown',
  '.yaml': 'yaml',
  '.yml': 'yaml',
  '.json': 'json',
};

/**
 * `drover submit <path...> --agents ...`: the files as one experiment, every
 * task run by every agent (x model) `trials` times. With --wait, follows its
 * ticket and prints the matrix; exit 0 once every trial ran (a failed trial is
 * a result, not an error).
 */
export async function submitSweep(
  api: DroverApi,
  paths: readonly string[],
  opts: SweepOptions,
): Promise<number> {
  const files = await expandPaths(paths);
  const tasks = await Promise.all(
    files.map(async (file) => ({
      name: basename(file, extname(file)),
      format: FORMATS[extname(file).toLowerCase()],
      document: (await readTicketFile(file)).toString('utf8'),
    })),
  );
  // The agents as given: the API checks them (422 names one it does not know).
  const body = {
    ...(opts.name ? { name: opts.name } : {}),
    agents: opts.agents,
    ...(opts.models?.length ? { models: opts.models } : {}),
    n_trials: opts.trials,
    ...(await analysisOf(opts)),
    tasks,
  } as CreateExperimentBody;
  const started = Date.now();
  const experiment = await api.createExperiment(body);
  const links = api.linksTo('experiments', experiment.id);
  if (!opts.json) {
    const trials = experiment.matrix.reduce((n, c) => n + c.trials, 0);
    const shown = Object.values(links).map((l) => `\n  ${dim(l)}`);
    process.stdout.write(
      `experiment ${bold(experiment.name)} (${experiment.id}): ${trials} trials of ${tasks.length} tasks${shown.join('')}\n`,
    );
  }
  if (!opts.wait) {
    if (opts.json) print(opts, '', { ...experiment, ...links });
    return EXIT.ok;
  }
  const ticket = await api.getTicket(experiment.ticketId);
  await followTickets(api, [ticket], { json: opts.json, fromStart: true });
  const done = await api.getExperiment(experiment.id);
  print(
    opts,
    `\n${matrixText(done)}\n${dim(`finished in ${formatDuration(Date.now() - started)}`)}`,
    {
      ...done,
      ...links,
    },
  );
  return done.status === 'SUCCEEDED' ? EXIT.ok : EXIT.ticketFailed;
}

async function analysisOf(opts: SweepOptions) {
  if (opts.analysisAgent) {
    return {
      analysis: {
        agent: opts.analysisAgent,
        ...(opts.analysisModel ? { model: opts.analysisModel } : {}),
        ...(opts.analysis ? { prompt: opts.analysis } : {}),
      },
    };
  }
  if (!opts.analysis) return {};
  // A file's text is the command (a script); anything else is the command itself.
  const command = await readFile(opts.analysis, 'utf8').catch(() => opts.analysis);
  return { analysis: { command } };
}

/** `drover experiments [id]`: the project's experiments, or one as its matrix. */
export async function experimentsCommand(
  api: DroverApi,
  id: string | undefined,
  opts: Output,
): Promise<number> {
  if (!id) {
    const { items } = await api.listExperiments();
    const rows = items.map((e) => [
      e.name,
      status(e.status),
      String(e.trials),
      e.agents.join(','),
      e.createdAt,
      e.id,
    ]);
    print(opts, table(['NAME', 'STATUS', 'TRIALS', 'AGENTS', 'CREATED', 'ID'], rows), { items });
    return EXIT.ok;
  }
  const experiment = await api.getExperiment(id);
  print(opts, matrixText(experiment), experiment);
  return EXIT.ok;
}

/** The matrix (pass rate, cost and tokens per agent x model) and the verdict of each task. */
export function matrixText(e: Experiment): string {
  const money = (n: number | null | undefined) =>
    typeof n === 'number' ? `$${n.toFixed(2)}` : '-';
  const count = (n: number | null | undefined) => (typeof n === 'number' ? String(n) : '-');
  const rate = (c: Experiment['matrix'][number]) =>
    c.passRate === null ? '-' : `${Math.round(c.passRate * 100)}%`;
  const matrix = table(
    ['AGENT', 'MODEL', 'PASSED', 'PASS RATE', 'COST', 'TOKENS IN', 'TOKENS OUT'],
    e.matrix.map((c) => [
      c.agent,
      c.model ?? '-',
      `${c.passed}/${c.finished}${c.finished < c.trials ? ` (of ${c.trials})` : ''}`,
      rate(c),
      money(c.costUsd),
      count(c.inputTokens),
      count(c.outputTokens),
    ]),
  );
  const tasks = table(
    ['TASK', 'VERDICT', 'FAILURES'],
    e.tasks.map((t) => [
      t.name,
      t.verdict,
      Object.entries(t.failures)
        .map(([category, n]) => `${category} ${n}`)
        .join(', ') || '-',
    ]),
  );
  return [`${bold(e.name)}  ${status(e.status)}  ${dim(e.id)}`, matrix, '', tasks].join('\n');
}

/** Deletes an experiment (for `drover clean`, when the id is not a ticket's). */
export async function cleanExperiment(api: DroverApi, id: string, opts: Output): Promise<number> {
  const result = await api.deleteExperiment(id);
  print(
    opts,
    `deleted experiment ${id}: its ticket ${String(result.deleted.ticketId)}, ${String(result.deleted.tasks)} tasks, ${String(result.deleted.runs)} runs`,
    result,
  );
  return EXIT.ok;
}

/** Whether an error is a 404 (the id is not a ticket: it may be an experiment). */
export function notATicket(error: unknown): boolean {
  return error instanceof DroverApiError && isNotFound(error);
}

/** `--agents a,b` as a list; empty items are a usage error. */
export function listOption(flag: string, value: string): string[] {
  const items = value.split(',').map((s) => s.trim());
  if (items.some((s) => !s))
    throw new UsageError(`${flag}: a comma-separated list, e.g. nop,oracle,claude-code`);
  return items;
}
