import {
  DroverApiError,
  type CancelTaskResult,
  type CancelTicketResult,
  type RerunTaskResult,
  type RerunTicketResult,
  type Task,
} from '@drover/client';
import type { DroverApi } from './api-client';
import { EXIT, isNotFound, UsageError } from './errors';
import { bold, print, status, type Output } from './render';

function nowLine(task: Task): string {
  return `task ${bold(task.key)} (${task.id}) is now ${status(task.status)}`;
}

/** `drover approve|reject <task> [-m <comment>]`: decides a task waiting for approval. */
export async function decide(
  api: DroverApi,
  decision: 'approve' | 'reject',
  taskId: string,
  comment: string | undefined,
  opts: Output,
): Promise<number> {
  const body = comment === undefined ? {} : { comment };
  const task =
    decision === 'approve'
      ? await api.approveTask(taskId, body)
      : await api.rejectTask(taskId, body);
  print(opts, nowLine(task), task);
  return EXIT.ok;
}

/**
 * `drover answer <task> [value] [--name <NAME>] [--stdin]`: answers a task's input
 * request. --stdin reads the value from standard input (one trailing newline
 * dropped), so a secret stays out of the shell's history.
 */
export async function answer(
  api: DroverApi,
  taskId: string,
  given: string | undefined,
  o: { name?: string; stdin: boolean },
  opts: Output,
): Promise<number> {
  if (given !== undefined && o.stdin) throw new UsageError('give the value or --stdin, not both');
  if (given === undefined && !o.stdin) {
    throw new UsageError('give the value, or --stdin to read it from standard input');
  }
  const value = given ?? (await readStdin());
  const task = await api.answerTaskInput(taskId, { value, ...(o.name ? { name: o.name } : {}) });
  print(opts, nowLine(task), task);
  return EXIT.ok;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** `ticket(id)`, or `task(id)` for a task (--task, or an id no ticket has). */
function onTicketOrTask<T>(
  id: string,
  o: { task: boolean },
  ticket: (id: string) => Promise<T>,
  task: (id: string) => Promise<T>,
): Promise<T> {
  if (o.task) return task(id);
  return ticket(id).catch((error: unknown) => {
    if (!isNotFound(error)) throw error;
    return task(id).catch((e: unknown) => {
      throw isNotFound(e)
        ? new DroverApiError(404, 'NOT_FOUND', `no ticket or task with id ${id}`)
        : e;
    });
  });
}

/**
 * `drover cancel <id> [--task]`: cancels a ticket, or (a task's id, or --task)
 * one task. Waiting work never starts, running work is stopped; 409 when final.
 */
export async function cancel(
  api: DroverApi,
  id: string,
  o: { task: boolean },
  opts: Output,
): Promise<number> {
  const result = await onTicketOrTask<CancelTicketResult | CancelTaskResult>(
    id,
    o,
    (ticket) => api.cancelTicket(ticket),
    (task) => api.cancelTask(task),
  );
  const lines = [
    ...result.cancelled.map((t) => `cancelled ${t.key} (was ${t.previous})`),
    ...result.blocked.map((t) => `blocked   ${t.key}`),
  ];
  print(opts, lines.join('\n') || 'nothing to cancel', result);
  return EXIT.ok;
}

/**
 * `drover rerun <id> [--task]`: runs a final ticket's tasks that did not succeed
 * again, or (a task's id, or --task) one such task with its dependents that did
 * not succeed; each runs as a new attempt. 409 while open or when nothing failed.
 */
export async function rerun(
  api: DroverApi,
  id: string,
  o: { task: boolean },
  opts: Output,
): Promise<number> {
  const result = await onTicketOrTask<RerunTicketResult | RerunTaskResult>(
    id,
    o,
    (ticket) => api.rerunTicket(ticket),
    (task) => api.rerunTask(task),
  );
  const lines = result.rerun.map((t) => `rerun ${t.key} (was ${t.previous})`);
  print(opts, lines.join('\n'), result);
  return EXIT.ok;
}

/**
 * `drover clean <ticket>`: deletes a final ticket with its tasks, runs, logs and
 * artifacts; prints each count the API gives (`deleted: {ticketId, tasks, runs, ...}`).
 */
export async function clean(api: DroverApi, ticketId: string, opts: Output): Promise<number> {
  const result = await api.deleteTicket(ticketId);
  const counts = Object.entries(result.deleted)
    .filter(([, n]) => typeof n === 'number')
    .map(([what, n]) => `${String(n)} ${what}`);
  counts.push(`the artifacts of ${result.artifactsRemovedForRuns} runs`);
  print(opts, `deleted ticket ${result.deleted.ticketId}: ${counts.join(', ')}`, result);
  return EXIT.ok;
}
