import { z } from 'zod';
import { ErrorClass, OnFailure, RunStatus, TaskStatus, TicketStatus } from '../domain';
import { TaskBlocked, TaskLeft } from '../task-changes';
import { Waiting } from '../waiting';
import { Usage } from './common';
import { published } from './schema-registry';
import { Count, JsonObject, Timestamp } from './wire';

// The bodies of /tickets and /tasks: what libs/workflow's TicketQueries builds.

const Int = z.number().int();

export const Approval = published(
  'Approval',
  z
    .object({
      requestedAt: Timestamp,
      /** When it fails undecided; null: it waits. */
      dueAt: Timestamp.nullable(),
      decision: z.enum(['approved', 'rejected', 'expired']).nullable(),
      comment: z.string().nullable(),
      /** The deciding key's name. */
      decidedBy: z.string().nullable(),
      decidedAt: Timestamp.nullable(),
    })
    .describe("A task's approval gate: requested when it would have become READY, decided once"),
);
export type Approval = z.input<typeof Approval>;

/** What a task shows in its ticket and on its own. */
const TaskFields = {
  id: z.uuid(),
  key: z.string(),
  title: z.string().nullable(),
  status: TaskStatus,
  priority: Int,
  agent: z.string(),
  provider: z.string(),
  /** Runs created so far. */
  attempt: Count,
  readyAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
  phase: z.string().nullable(),
  /** The condition over upstream steps that decides whether it runs (false: SKIPPED). */
  when: z.string().nullable(),
  onFailure: OnFailure,
  requiresApproval: z.boolean(),
  /** Why it is in its status when no run says it (skipped, rejected, a template failed). */
  reason: z.string().nullable(),
  waiting: Waiting.nullable().describe('READY or DISPATCHED: why no runner can take it'),
  approval: Approval.nullable(),
  usage: Usage,
};

export const TicketTask = published(
  'TicketTask',
  z
    .object({ ...TaskFields, dependsOn: z.array(z.string()).describe('the keys it waits for') })
    .describe('A task as its ticket lists it'),
);
export type TicketTask = z.input<typeof TicketTask>;

const TicketFields = {
  id: z.uuid(),
  title: z.string(),
  status: TicketStatus,
  priority: Int,
  createdAt: Timestamp,
  updatedAt: Timestamp,
  finishedAt: Timestamp.nullable(),
  labels: z.array(z.string()),
  budgetUsd: z.number().nullable(),
  /** The project's slug. */
  project: z.string(),
};

export const TicketSummary = published(
  'TicketSummary',
  z
    .object({
      ...TicketFields,
      taskCount: Count,
      taskCounts: z
        .partialRecord(TaskStatus, Count)
        .describe('its tasks by status; a status no task has is left out'),
    })
    .describe('A ticket as GET /tickets lists it'),
);
export type TicketSummary = z.input<typeof TicketSummary>;

export const TicketPage = published(
  'TicketPage',
  z.object({
    items: z.array(TicketSummary),
    nextCursor: z
      .string()
      .nullable()
      .describe('pass as `cursor` for the next page; null: the last'),
  }),
);
export type TicketPage = z.input<typeof TicketPage>;

export const Ticket = published(
  'Ticket',
  z
    .object({
      ...TicketFields,
      description: z.string().nullable(),
      usage: Usage,
      tasks: z.array(TicketTask),
    })
    .describe('A ticket with its tasks, in the order submitted'),
);
export type Ticket = z.input<typeof Ticket>;

export const InputRequest = published(
  'InputRequest',
  z
    .object({
      id: z.uuid(),
      /** The run that asked. */
      runId: z.uuid().nullable(),
      /** The variable the answer becomes. */
      name: z.string(),
      prompt: z.string(),
      secret: z.boolean(),
      /** When not empty, the answer must be one of these. */
      choices: z.array(z.string()),
      requestedAt: Timestamp,
      /** The answer; always null for a secret one. */
      value: z.string().nullable(),
      answeredBy: z.string().nullable(),
      answeredAt: Timestamp.nullable(),
    })
    .describe('A value a run asked a person for'),
);
export type InputRequest = z.input<typeof InputRequest>;

export const Run = published(
  'Run',
  z
    .object({
      id: z.uuid(),
      attempt: Int,
      status: RunStatus,
      runnerId: z.string().nullable(),
      dispatchedAt: Timestamp,
      startedAt: Timestamp.nullable(),
      finishedAt: Timestamp.nullable(),
      leaseExpiresAt: Timestamp.nullable(),
      deadlineAt: Timestamp.nullable(),
      exitCode: Int.nullable(),
      errorClass: ErrorClass.nullable(),
      errorMessage: z.string().nullable(),
      result: JsonObject.nullable().describe("the runner's summary of the run"),
      /** One past the highest log line number stored. */
      logLines: Count,
      /** Lines known lost; null when none are. */
      lostLogLines: Count.nullable(),
      costUsd: z.number().nullable(),
      inputTokens: Int.nullable(),
      outputTokens: Int.nullable(),
    })
    .describe('One attempt of a task'),
);
export type Run = z.input<typeof Run>;

export const Task = published(
  'Task',
  z
    .object({
      ...TaskFields,
      ticketId: z.uuid(),
      spec: JsonObject.describe(
        'what the task runs, as resolved at submission; each secret env value reads { "secret": true }',
      ),
      maxAttempts: Int,
      timeoutMs: Int,
      backoffBaseMs: Int,
      backoffFactor: z.number(),
      backoffCapMs: Int,
      retryOn: z.array(ErrorClass),
      /** RETRY_WAIT: when it becomes READY again. */
      retryAt: Timestamp.nullable(),
      createdAt: Timestamp,
      approvalTimeoutMs: Int.nullable(),
      inputs: z.array(InputRequest),
      dependsOn: z.array(z.object({ id: z.uuid(), key: z.string(), status: TaskStatus })),
      runs: z.array(Run).describe('every attempt, oldest first'),
    })
    .describe('A task with its retry policy, input requests and runs'),
);
export type Task = z.input<typeof Task>;

export const CancelTicketResult = published(
  'CancelTicketResult',
  z.object({
    cancelled: z.array(TaskLeft),
    blocked: z.array(TaskBlocked),
    ticket: Ticket.nullable().describe('the ticket now (null only if it was deleted meanwhile)'),
  }),
);
export type CancelTicketResult = z.input<typeof CancelTicketResult>;

export const CancelTaskResult = published(
  'CancelTaskResult',
  z.object({
    cancelled: z.array(TaskLeft),
    blocked: z.array(TaskBlocked),
    task: Task.nullable().describe('the task now (null only if it was deleted meanwhile)'),
  }),
);
export type CancelTaskResult = z.input<typeof CancelTaskResult>;

export const RerunTicketResult = published(
  'RerunTicketResult',
  z.object({
    rerun: z.array(TaskLeft).describe('the tasks that wait to run again, each as a new attempt'),
    ticket: Ticket.nullable(),
  }),
);
export type RerunTicketResult = z.input<typeof RerunTicketResult>;

export const RerunTaskResult = published(
  'RerunTaskResult',
  z.object({
    rerun: z.array(TaskLeft).describe('the tasks that wait to run again, each as a new attempt'),
    task: Task.nullable(),
  }),
);
export type RerunTaskResult = z.input<typeof RerunTaskResult>;

/** How many of each were deleted with a ticket. */
export const Deleted = { tasks: Count, runs: Count, events: Count };

export const TicketDeleted = published(
  'TicketDeleted',
  z.object({
    deleted: z.object({ ticketId: z.uuid(), ...Deleted }),
    /** Runs whose stored artifacts were removed too. */
    artifactsRemovedForRuns: Count,
  }),
);
export type TicketDeleted = z.input<typeof TicketDeleted>;
