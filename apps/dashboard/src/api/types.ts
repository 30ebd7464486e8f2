// The gateway's answers as the dashboard reads them: the API contract's types
// (`@drover/contracts/api`, what the gateway publishes), under the names the pages use.
import type {
  CancelTaskResult,
  CancelTicketResult,
  Cell,
  Experiment,
  ListTicketsParams,
  LogEntry,
  RerunTaskResult,
  RerunTicketResult,
  Usage,
} from '@drover/contracts/api';

export type {
  Approval,
  Artifact,
  ErrorClass,
  EventToken,
  Experiment,
  ExperimentSummary,
  InputRequest,
  KeyRole,
  LogLine,
  LogPage,
  Me,
  ProviderLoad,
  Run,
  Runner,
  RunnerStatus,
  RunStatus,
  Task,
  TaskStatus,
  Ticket,
  TicketPage,
  TicketStatus,
  TicketSummary,
  TicketTask,
  Trial,
  Usage,
  Verdict,
} from '@drover/contracts/api';

export type ListTicketsQuery = ListTicketsParams;

/** A numbered log line (`n` is 0-based within its run). */
export type NumberedLine = LogEntry;

/** A cell of an experiment's matrix: one agent x model, its trials and what they cost. */
export type MatrixCell = Cell & Usage;

export type ExperimentTask = Experiment['tasks'][number];

/** What a cancel answers: what it cancelled and what that blocked. */
export type CancelResult = Pick<CancelTicketResult | CancelTaskResult, 'cancelled' | 'blocked'>;

/** What a rerun answers: the tasks that wait to run again. */
export type RerunResult = Pick<RerunTicketResult | RerunTaskResult, 'rerun'>;
