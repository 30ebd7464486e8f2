// The gateway's answers as the dashboard reads them (see the gateway's
// controllers and libs/workflow's queries). Enumerations come from the contracts;
// these shapes give way to @drover/client's once it exists.
import type {
  ArtifactKind,
  ErrorClass,
  KeyRole,
  LogLine,
  RunStatus,
  RunnerStatus,
  TaskStatus,
  TicketStatus,
  Waiting,
} from '@drover/contracts';

export type { ErrorClass, KeyRole, LogLine, RunStatus, RunnerStatus, TaskStatus, TicketStatus };

/** What runs cost, as their agents reported it (null: nothing reported). */
export interface Usage {
  costUsd: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
}

interface TicketFields {
  id: string;
  title: string;
  status: TicketStatus;
  priority: number;
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  labels: string[];
  budgetUsd: number | null;
  project: string;
}

/** A row of `GET /tickets`. */
export interface TicketSummary extends TicketFields {
  taskCount: number;
  /** Tasks by status (statuses no task has are left out). */
  taskCounts: Partial<Record<TaskStatus, number>>;
}

export interface TicketPage {
  items: TicketSummary[];
  nextCursor: string | null;
}

export interface ListTicketsQuery {
  status?: TicketStatus;
  limit?: number;
  cursor?: string;
}

export interface Approval {
  requestedAt: string;
  dueAt: string | null;
  decision: 'APPROVED' | 'REJECTED' | null;
  comment: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
}

interface TaskFields {
  id: string;
  key: string;
  title: string | null;
  status: TaskStatus;
  priority: number;
  agent: string;
  provider: string;
  attempt: number;
  readyAt: string | null;
  finishedAt: string | null;
  phase: string | null;
  when: string | null;
  onFailure: string;
  requiresApproval: boolean;
  reason: string | null;
  approval: Approval | null;
  waiting: Waiting | null;
  usage: Usage;
}

/** A task as `GET /tickets/:id` lists it. */
export interface TicketTask extends TaskFields {
  /** Keys of the tasks it waits for. */
  dependsOn: string[];
}

/** `GET /tickets/:id`. */
export interface Ticket extends TicketFields {
  description: string | null;
  usage: Usage;
  tasks: TicketTask[];
}

/** One attempt of a task. */
export interface Run {
  id: string;
  attempt: number;
  status: RunStatus;
  runnerId: string | null;
  dispatchedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  leaseExpiresAt: string | null;
  deadlineAt: string | null;
  exitCode: number | null;
  errorClass: ErrorClass | null;
  errorMessage: string | null;
  /** The run's result summary (result.json without its per-iteration details). */
  result: Record<string, unknown> | null;
  logLines: number;
  lostLogLines: number | null;
  costUsd: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
}

export interface InputRequest {
  id: string;
  runId: string | null;
  name: string;
  prompt: string;
  secret: boolean;
  choices: string[] | null;
  requestedAt: string;
  value: string | null;
  answeredBy: string | null;
  answeredAt: string | null;
}

/** `GET /tasks/:id`. */
export interface Task extends TaskFields {
  ticketId: string;
  spec: Record<string, unknown>;
  maxAttempts: number;
  timeoutMs: number;
  retryAt: string | null;
  createdAt: string;
  inputs: InputRequest[];
  dependsOn: { id: string; key: string; status: TaskStatus }[];
  runs: Run[];
}

/** A numbered log line (`n` is 0-based within its run). */
export interface NumberedLine extends LogLine {
  n: number;
}

/** `GET /runs/:id/logs`. */
export interface LogPage {
  runId: string;
  taskId: string;
  status: RunStatus;
  totalLines: number;
  lines: NumberedLine[];
  nextAfter: number | null;
}

/** A row of `GET /runs/:id/artifacts`. */
export interface Artifact {
  name: string;
  kind: ArtifactKind;
  size: number;
  sha256: string;
  contentType: string;
  createdAt: string;
  url: string;
}

/** A row of `GET /runners`. */
export interface Runner {
  id: string;
  name: string;
  status: RunnerStatus;
  slots: number;
  freeSlots: number;
  capabilities: unknown;
  heartbeatIntervalMs: number;
  registeredAt: string;
  lastHeartbeatAt: string;
  /** The project whose own pool it serves; null: the shared pool. */
  project: string | null;
}

/** A row of `GET /experiments`. */
export interface ExperimentSummary {
  id: string;
  name: string;
  agents: string[];
  models: string[];
  nTrials: number;
  createdAt: string;
  ticketId: string;
  status: TicketStatus;
  finishedAt: string | null;
  trials: number;
}

/** A cell of an experiment's matrix: one agent x model, its trials and what they cost. */
export interface MatrixCell extends Usage {
  agent: string;
  /** Null: the task's own model (baselines and `command` take none). */
  model: string | null;
  trials: number;
  finished: number;
  passed: number;
  /** Passed of finished, 0..1; null until one has finished. */
  passRate: number | null;
}

/** What an experiment says about a task (see docs/experiments.md). */
export type Verdict =
  'pending' | 'broken' | 'trivial' | 'solved' | 'partial' | 'unsolved' | 'baselines-only';

export interface ExperimentTask {
  name: string;
  verdict: Verdict;
  cells: Omit<MatrixCell, keyof Usage>[];
  /** Failed trials by the category their analysis gave. */
  failures: Record<string, number>;
}

export interface Trial {
  taskId: string;
  key: string;
  task: string;
  agent: string;
  model: string | null;
  trial: number;
  status: TaskStatus;
  error: string | null;
  costUsd: number | null;
  inputTokens: number | null;
  outputTokens: number | null;
  analysis: {
    taskId: string;
    status: TaskStatus;
    category: string | null;
    summary: string | null;
  } | null;
}

/** `GET /experiments/:id`. */
export interface Experiment {
  id: string;
  name: string;
  agents: string[];
  models: string[];
  nTrials: number;
  analysis: Record<string, unknown> | null;
  createdAt: string;
  ticketId: string;
  status: TicketStatus;
  finishedAt: string | null;
  usage: Usage;
  matrix: MatrixCell[];
  tasks: ExperimentTask[];
  trials: Trial[];
}

/** A row of `GET /providers`: a provider's active tasks against its concurrency limit. */
export interface ProviderLoad {
  provider: string;
  /** Tasks dispatched or running in every project (what the limit counts). */
  running: number;
  /** Of those, the key's project's. */
  runningInProject: number;
  limit: number;
}

/** `GET /me`. */
export interface Me {
  keyId: string;
  name: string;
  role: KeyRole;
  expiresAt: string | null;
  project: { id: string; slug: string; name: string; [field: string]: unknown };
}

/** `POST /events/token`. */
export interface EventToken {
  token: string;
  expiresAt: string;
}

/** A task a cancel or rerun changed. */
export interface ChangedTask {
  id: string;
  key: string;
  /** The status it left. */
  previous?: string;
}

/** What a cancel answers: what it cancelled and what that blocked, and the task now. */
export interface CancelResult {
  cancelled: ChangedTask[];
  blocked: ChangedTask[];
}

/** What a rerun answers: the tasks that wait to run again. */
export interface RerunResult {
  rerun: ChangedTask[];
}
