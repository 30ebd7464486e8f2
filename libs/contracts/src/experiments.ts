import { z } from 'zod';
import { AgentName, CLI_AGENTS, Text } from './task-spec';
import { ErrorBody } from './error-body';
import { Priority, SubmitTicket } from './tickets';

export const EXPERIMENT_LIMITS = {
  agents: 20,
  models: 20,
  trials: 100,
  tasks: 500,
  /** Trials (and analyses) in one experiment: its ticket's tasks. */
  cells: 10_000,
  documentLength: 1024 * 1024,
} as const;

/** An experiment's name: `nightly-sonnet`, or generated as `brisk-otter-417`. */
export const ExperimentName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be 1-63 characters of a-z, 0-9 or "-"');

/** A swept task's name (a work order's file name without its extension). */
export const SweepTaskName = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/,
    'must be 1-128 characters of letters, digits, ".", "_" or "-"',
  );

const ModelName = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$/, 'must be a model name such as "claude-sonnet-4-5"');

/**
 * What classifies a failed trial: a command (it sees TRIAL_* variables and
 * writes `{"category": ..., "summary": ...}` to $DROVER_OUTPUT) or a CLI agent
 * asked to do the same.
 */
export const AnalysisStage = z.union([
  z.object({ command: Text(1, 65_536) }).strict(),
  z
    .object({
      agent: z.enum(CLI_AGENTS),
      model: ModelName.optional(),
      /** Extra instructions for the agent, before the trial's facts. */
      prompt: Text(1, 65_536).optional(),
    })
    .strict(),
]);
export type AnalysisStage = z.infer<typeof AnalysisStage>;

/** A task of a sweep: a work order (Markdown) or a one-task ticket document (YAML, JSON). */
export const SweepTask = z
  .object({
    name: SweepTaskName,
    document: Text(1, EXPERIMENT_LIMITS.documentLength),
    format: z.enum(['markdown', 'yaml', 'json']).default('markdown'),
  })
  .strict();
export type SweepTask = z.infer<typeof SweepTask>;

/** The body of `POST /experiments`: every task run by every agent x model, `n_trials` times. */
export const SubmitExperiment = z
  .object({
    name: ExperimentName.optional(),
    /** `nop` and `oracle` are baselines: the task unchanged, and its reference `solution`. */
    agents: z.array(AgentName).min(1).max(EXPERIMENT_LIMITS.agents),
    /** For the CLI agents (baselines and `command` take none); default: each task's own model. */
    models: z.array(ModelName).min(1).max(EXPERIMENT_LIMITS.models).optional(),
    n_trials: z.number().int().min(1).max(EXPERIMENT_LIMITS.trials).default(1),
    priority: Priority.default(0),
    analysis: AnalysisStage.optional(),
    tasks: z.array(SweepTask).min(1).max(EXPERIMENT_LIMITS.tasks),
  })
  .strict()
  .superRefine((body, ctx) => {
    const repeated = (list: readonly string[]) => list.filter((x, i) => list.indexOf(x) !== i);
    for (const [field, list] of [
      ['agents', body.agents],
      ['models', body.models ?? []],
      ['tasks', body.tasks.map((t) => t.name)],
    ] as const) {
      const twice = repeated(list);
      if (twice.length) {
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `named twice: ${twice.join(', ')}`,
        });
      }
    }
  });
export type SubmitExperiment = z.output<typeof SubmitExperiment>;

export const TrialRole = z.enum(['trial', 'analysis']);

/** Which cell of the sweep a task of the experiment's ticket is. */
export const TrialRecord = z.object({
  key: z.string(),
  taskName: SweepTaskName,
  agent: AgentName,
  model: z.string().nullable(),
  trial: z.number().int().positive(),
  role: TrialRole,
});
export type TrialRecord = z.infer<typeof TrialRecord>;

/** gateway -> orchestrator (request/reply): write an experiment and its ticket in one go. */
export const CreateExperiment = z.object({
  /** Null: the orchestrator generates one that is free in the project. */
  name: ExperimentName.nullable(),
  agents: z.array(AgentName),
  models: z.array(z.string()),
  nTrials: z.number().int().positive(),
  analysis: AnalysisStage.nullable(),
  trials: z.array(TrialRecord).max(EXPERIMENT_LIMITS.cells),
  ticket: SubmitTicket,
});
export type CreateExperiment = z.infer<typeof CreateExperiment>;

export const CreateExperimentReply = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    experimentId: z.uuid(),
    name: ExperimentName,
    ticketId: z.uuid(),
    taskCount: z.number().int(),
  }),
  z.object({ ok: z.literal(false), status: z.number().int(), error: ErrorBody }),
]);
export type CreateExperimentReply = z.infer<typeof CreateExperimentReply>;
