import { TERMINAL_TASK_STATUSES } from '@drover/contracts/api';
import type { InputRequest, Run, Task } from '@drover/client';

export const FINAL_TICKET = new Set<string>(['SUCCEEDED', 'FAILED', 'CANCELLED']);
export const FINAL_TASK = new Set<string>(TERMINAL_TASK_STATUSES);
export const FINAL_RUN = new Set<string>([
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'NEEDS_INPUT',
]);

/** The open input request of a task: the one not answered yet. */
export const openInput = (task: Pick<Task, 'inputs'>): InputRequest | undefined =>
  task.inputs.find((i) => i.answeredAt === null);

/** The newest run of a task (runs come ordered by attempt). */
export const newestRun = (task: Pick<Task, 'runs'>): Run | undefined =>
  task.runs[task.runs.length - 1];
