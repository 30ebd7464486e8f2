import type { DroverApi } from './api-client';
import { ApiError, EXIT, isNotFound, UsageError } from './errors';
import { bold, print, status, type Output } from './render';
import type { TaskDetail } from './types';

const taskPath = (id: string) => `/tasks/${encodeURIComponent(id)}`;

function nowLine(task: TaskDetail): string {
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
  const task = await api.request<TaskDetail>(
    'POST',
    `${taskPath(taskId)}/${decision}`,
    comment === undefined ? {} : { comment },
  );
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
  const task = await api.request<TaskDetail>('POST', `${taskPath(taskId)}/input`, {
    value,
    ...(o.name ? { name: o.name } : {}),
  });
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

interface Cancelled {
  cancelled: { id: string; key: string; previous: string }[];
  blocked: { id: string; key: string }[];
}

/** POSTs `action` to a ticket, or a task (--task, or an id no ticket has). */
function onTicketOrTask<T>(
  api: DroverApi,
  id: string,
  action: string,
  o: { task: boolean },
): Promise<T> {
  const path = (target: string) => `/${target}/${encodeURIComponent(id)}/${action}`;
  if (o.task) return api.request<T>('POST', path('tasks'), {});
  return api.request<T>('POST', path('tickets'), {}).catch((error: unknown) => {
    if (!isNotFound(error)) throw error;
    return api.request<T>('POST', path('tasks'), {}).catch((e: unknown) => {
      throw isNotFound(e) ? ApiError.of(404, 'NOT_FOUND', `no ticket or task with id ${id}`) : e;
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
  const result = await onTicketOrTask<Cancelled>(api, id, 'cancel', o);
  const lines = [
    ...result.cancelled.map((t) => `cancelled ${t.key} (was ${t.previous})`),
    ...result.blocked.map((t) => `blocked   ${t.key}`),
  ];
  print(opts, lines.join('\n') || 'nothing to cancel', result);
  return EXIT.ok;
}

interface Rerun {
  rerun: { id: string; key: string; previous: string }[];
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
  const result = await onTicketOrTask<Rerun>(api, id, 'rerun', o);
  const lines = result.rerun.map((t) => `rerun ${t.key} (was ${t.previous})`);
  print(opts, lines.join('\n'), result);
  return EXIT.ok;
}

/**
 * `drover clean <ticket>`: deletes a final ticket with its tasks, runs, logs and
 * artifacts; prints each count the API gives (`deleted: {ticketId, tasks, runs, ...}`).
 */
export async function clean(api: DroverApi, ticketId: string, opts: Output): Promise<number> {
  const result = await api.request<{
    deleted: Record<string, unknown> & { ticketId: string };
    artifactsRemovedForRuns?: number;
  }>('DELETE', `/tickets/${encodeURIComponent(ticketId)}`);
  const counts = Object.entries(result.deleted)
    .filter(([, n]) => typeof n === 'number')
    .map(([what, n]) => `${String(n)} ${what}`);
  if (typeof result.artifactsRemovedForRuns === 'number') {
    counts.push(`the artifacts of ${result.artifactsRemovedForRuns} runs`);
  }
  print(opts, `deleted ticket ${result.deleted.ticketId}: ${counts.join(', ')}`, result);
  return EXIT.ok;
}
