import { z } from 'zod';
import { TaskStatus, TicketStatus } from '../domain';
import { Usage } from './common';
import { published } from './schema-registry';
import { Deleted } from './tickets';
import { Count, JsonObject, Timestamp } from './wire';

// The bodies of /experiments: what libs/workflow's ExperimentQueries builds.

/**
 * What an experiment says about a task: `pending` while trials run; `broken`
 * when the oracle (its reference solution) did not always pass; `trivial` when
 * the nop baseline (no change at all) passed; else by the agents' trials:
 * `solved` (every trial of some agent passed), `partial`, `unsolved`, or
 * `baselines-only` when no agent but the baselines ran.
 */
export const Verdict = z.enum([
  'pending',
  'broken',
  'trivial',
  'solved',
  'partial',
  'unsolved',
  'baselines-only',
]);
export type Verdict = z.infer<typeof Verdict>;

/** One agent x model of the matrix. */
export const Cell = published(
  'Cell',
  z.object({
    agent: z.string(),
    model: z.string().nullable(),
    trials: Count,
    finished: Count,
    passed: Count,
    passRate: z
      .number()
      .min(0)
      .max(1)
      .nullable()
      .describe('passed of finished; null until one has finished'),
  }),
);
export type Cell = z.input<typeof Cell>;

const ExperimentFields = {
  id: z.uuid(),
  name: z.string(),
  agents: z.array(z.string()),
  models: z.array(z.string()),
  nTrials: Count,
  createdAt: Timestamp,
  ticketId: z.uuid(),
  /** Its ticket's. */
  status: TicketStatus,
  finishedAt: Timestamp.nullable(),
};

export const ExperimentSummary = published(
  'ExperimentSummary',
  z.object({ ...ExperimentFields, trials: Count.describe('how many trials it runs') }),
);
export type ExperimentSummary = z.input<typeof ExperimentSummary>;

export const ExperimentList = published(
  'ExperimentList',
  z.object({ items: z.array(ExperimentSummary).describe('newest first') }),
);
export type ExperimentList = z.input<typeof ExperimentList>;

export const TrialAnalysis = z.object({
  taskId: z.uuid(),
  status: TaskStatus,
  category: z.string().nullable(),
  summary: z.string().nullable(),
});

export const Trial = published(
  'Trial',
  z.object({
    taskId: z.uuid(),
    key: z.string(),
    /** The swept task's name. */
    task: z.string(),
    agent: z.string(),
    model: z.string().nullable(),
    trial: z.number().int().positive(),
    status: TaskStatus,
    error: z.string().nullable(),
    costUsd: z.number().nullable(),
    inputTokens: z.number().nullable(),
    outputTokens: z.number().nullable(),
    analysis: TrialAnalysis.nullable().describe('how the analysis classified a failed trial'),
  }),
);
export type Trial = z.input<typeof Trial>;

export const Experiment = published(
  'Experiment',
  z
    .object({
      ...ExperimentFields,
      projectId: z.uuid(),
      analysis: JsonObject.nullable().describe('the analysis stage, as submitted'),
      usage: Usage,
      matrix: z.array(Cell.extend(Usage.shape)),
      tasks: z.array(
        z.object({
          name: z.string(),
          verdict: Verdict,
          cells: z.array(Cell),
          failures: z.record(z.string(), Count).describe('failed trials by category'),
        }),
      ),
      trials: z.array(Trial),
    })
    .describe(
      'An experiment: pass rate, cost and tokens per agent x model, a verdict per task, every trial',
    ),
);
export type Experiment = z.input<typeof Experiment>;

export const ExperimentDeleted = published(
  'ExperimentDeleted',
  z.object({
    deleted: z.object({
      experimentId: z.uuid(),
      ticketId: z.uuid(),
      ...Deleted,
      artifactsRemovedForRuns: Count,
    }),
  }),
);
export type ExperimentDeleted = z.input<typeof ExperimentDeleted>;
