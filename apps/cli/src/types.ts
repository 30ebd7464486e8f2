import { TERMINAL_TASK_STATUSES, type Waiting } from '@drover/contracts';

// The shapes of the API's answers the CLI reads (see apps/gateway and libs/workflow's TicketQueries).

export interface Approval {
  requestedAt: string;
  dueAt: string | null;
  decision: string | null;
  comment: string | null;
  decidedBy: string | null;
  decidedAt: string | null;
}

export interface Task {
  id: string;
  key: string;
  title: string | null;
  status: string;
  agent?: string;
  attempt: number;
  phase: string | null;
  when?: string | null;
  onFailure?: string | null;
  requiresApproval?: boolean;
  reason: string | null;
  /** READY or DISPATCHED: why no runner can take it (absent from gateways before it). */
  waiting?: Waiting | null;
  approval: Approval | null;
  dependsOn: string[];
}

export interface Ticket {
  id: string;
  title: string;
  status: string;
  project?: string;
  labels?: string[];
  createdAt: string;
  finishedAt: string | null;
  tasks: Task[];
}

export interface Run {
  id: string;
  attempt: number;
  status: string;
  runnerId: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  exitCode: number | null;
  errorClass: string | null;
  errorMessage: string | null;
}

export interface InputRequest {
  id: string;
  name: string;
  prompt: string;
  secret: boolean;
  choices: string[] | null;
  requestedAt: string;
  answeredBy: string | null;
  answeredAt: string | null;
}

/** `GET /tasks/:id`: the task with its runs and input requests. */
export interface TaskDetail extends Omit<Task, 'dependsOn'> {
  ticketId: string;
  maxAttempts?: number;
  runs: Run[];
  inputs: InputRequest[];
  dependsOn: { id: string; key: string; status: string }[];
}

export interface LogLine {
  n: number;
  stream: string;
  text: string;
  ts: string;
}

/** `GET /runs/:id/logs`. */
export interface LogPage {
  runId: string;
  taskId: string;
  status: string;
  totalLines: number;
  lines: LogLine[];
  nextAfter: number | null;
}

export const FINAL_TICKET = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);
export const FINAL_TASK = new Set<string>(TERMINAL_TASK_STATUSES);
export const FINAL_RUN = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'NEEDS_INPUT']);

/** The open input request of a task: the one not answered yet. */
export const openInput = (task: TaskDetail): InputRequest | undefined =>
  task.inputs.find((i) => i.answeredAt === null);

/** The newest run of a task (runs come ordered by attempt). */
export const newestRun = (task: TaskDetail): Run | undefined => task.runs[task.runs.length - 1];
