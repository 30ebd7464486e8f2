// What the live progress shows: pure functions from tickets (as GET /tickets/:id
// returns them) to lines, so they can be tested without a terminal.
import type { PublicEventData, Task, Ticket, TicketTask, Waiting } from '@drover/client';
import { bold, dim, formatDuration, status } from './render';
import { FINAL_TICKET, newestRun, openInput } from './ticket-states';

type TaskChanged = PublicEventData<'task.changed'>;
type TaskWaitingChanged = PublicEventData<'task.waiting'>;

// Task statuses in the order a ticket's counts list them: work in hand first.
const ORDER = [
  'RUNNING',
  'DISPATCHED',
  'AWAITING_APPROVAL',
  'AWAITING_INPUT',
  'RETRY_WAIT',
  'READY',
  'PENDING',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'BLOCKED',
  'SKIPPED',
];

/** `2 RUNNING · 1 PENDING · 3 SUCCEEDED`: how many tasks are in each status. */
export function statusCounts(tasks: readonly Pick<TicketTask, 'status'>[]): string {
  const counts = new Map<string, number>();
  for (const t of tasks) counts.set(t.status, (counts.get(t.status) ?? 0) + 1);
  const rank = (s: string) => (ORDER.includes(s) ? ORDER.indexOf(s) : ORDER.length);
  return [...counts]
    .sort(([a], [b]) => rank(a) - rank(b))
    .map(([s, n]) => `${n} ${status(s)}`)
    .join(' · ');
}

export const approveHint = (taskId: string) =>
  `drover approve ${taskId}  |  drover reject ${taskId}`;
export const answerHint = (taskId: string, secret?: boolean) =>
  secret ? `drover answer ${taskId} --stdin` : `drover answer ${taskId} <value>`;

/** What the request asks: `TOKEN (secret): "The publish token"`, with its choices. */
function askOf(detail: Task | undefined, reason: string | null): string {
  const ask = detail && openInput(detail);
  if (!ask) return reason ?? 'waits for input';
  const choices = ask.choices?.length ? ` one of ${ask.choices.join(', ')}` : '';
  return `${ask.name}${ask.secret ? ' (secret)' : ''}: "${ask.prompt}"${choices}`;
}

/** Why a task failed: its reason, else its newest run's error. */
function failureOf(task: TicketTask, detail: Task | undefined): string {
  if (task.reason) return task.reason;
  const run = detail && newestRun(detail);
  if (!run) return '';
  const error = [run.errorClass, run.errorMessage].filter(Boolean).join(': ');
  return error || (run.exitCode === null ? '' : `exit code ${run.exitCode}`);
}

/**
 * The lines of a task worth showing (running, waiting for someone, failed,
 * skipped): its status, then on lines of their own the commands that unblock
 * it (a task id is long: beside the status it would be cut off).
 */
export function taskLines(task: TicketTask, detail?: Task): string[] {
  const head = (mark: string) => `  ${mark} ${bold(task.key)}  ${status(task.status)}`;
  const attempt = task.attempt > 1 ? dim(`  attempt ${task.attempt}`) : '';
  const hint = (command: string) => `      ${command}`;
  switch (task.status) {
    case 'RUNNING':
      return [`${head('▶')}${attempt}`];
    case 'AWAITING_APPROVAL':
      return [head('?'), hint(`drover approve ${task.id}`), hint(`drover reject ${task.id}`)];
    case 'AWAITING_INPUT': {
      const secret = detail ? openInput(detail)?.secret : undefined;
      return [`${head('?')}  ${askOf(detail, task.reason)}`, hint(answerHint(task.id, secret))];
    }
    case 'FAILED':
    case 'TIMED_OUT': {
      const why = failureOf(task, detail);
      return [`${head('✗')}${attempt}${why ? `  ${why}` : ''}`];
    }
    case 'SKIPPED':
      return [`${head('-')}${task.reason ? `  ${dim(task.reason)}` : ''}`];
    case 'READY':
    case 'DISPATCHED':
      return task.waiting ? [`${head('…')}  ${waitingText(task.waiting)}`] : [];
    // Waiting their turn, or done well: nothing to say beyond the counts.
    case 'PENDING':
    case 'RETRY_WAIT':
    case 'SUCCEEDED':
    case 'CANCELLED':
    case 'BLOCKED':
      return [];
  }
}

/** `waits for a runner: no runner is online: start one ...` */
export function waitingText(waiting: Waiting): string {
  return `waits for a runner (${waiting.reason}): ${waiting.message}`;
}

/**
 * The plain line of a task's wait for a runner beginning, changing or ending:
 * `   3.0s  task build waits for a runner (NO_RUNNER_ONLINE): no runner is online: ...`.
 */
export function waitingLine(
  change: Pick<TaskWaitingChanged, 'key' | 'waiting'>,
  elapsedMs: number,
  ticketTitle?: string,
): string {
  const at = dim(formatDuration(elapsedMs).padStart(7));
  const where = ticketTitle ? `${ticketTitle}: ` : '';
  const what = change.waiting ? waitingText(change.waiting) : 'a runner can take it now';
  return `${at}  ${where}task ${bold(change.key)} ${what}`;
}

/** How long a ticket has run: to its end when it has ended, else to `now`. */
export function ticketElapsed(
  ticket: Pick<Ticket, 'createdAt' | 'finishedAt'>,
  now: number,
): string {
  const end = ticket.finishedAt ? Date.parse(ticket.finishedAt) : now;
  return formatDuration(end - Date.parse(ticket.createdAt));
}

/**
 * One frame of the live display: per ticket its title, status, task counts and
 * elapsed time, then the lines of each task that runs, waits for someone, failed
 * or was skipped. `details` (GET /tasks/:id, by task id) adds input prompts and run errors.
 */
export function progressFrame(
  tickets: readonly Ticket[],
  details: ReadonlyMap<string, Task>,
  now: number,
): string[] {
  const lines: string[] = [];
  for (const ticket of tickets) {
    lines.push(
      `${bold(ticket.title)}  ${status(ticket.status)}  ${statusCounts(ticket.tasks)}  ${dim(ticketElapsed(ticket, now))}`,
    );
    for (const task of ticket.tasks) lines.push(...taskLines(task, details.get(task.id)));
  }
  return lines;
}

/**
 * The plain line (no redraw, for CI logs) of one task status change:
 * `  12.3s  build: task lint FAILED (attempt 2): AGENT_FAILED: step 1 exited with 1`
 * (`runError`: what its last run ended with, said when the change has no reason).
 */
export function changeLine(
  change: TaskChanged,
  elapsedMs: number,
  ticketTitle?: string,
  runError?: string,
): string {
  const at = dim(formatDuration(elapsedMs).padStart(7));
  const where = ticketTitle ? `${ticketTitle}: ` : '';
  const attempt = change.attempt && change.attempt > 1 ? ` (attempt ${change.attempt})` : '';
  const notes: string[] = [];
  if (change.reason) notes.push(change.reason);
  else if (runError && (change.status === 'FAILED' || change.status === 'TIMED_OUT'))
    notes.push(runError);
  if (change.status === 'RETRY_WAIT' && change.retryAt) {
    const asked =
      change.retryAfterMs === undefined
        ? ''
        : ` (its provider asked to wait ${formatDuration(change.retryAfterMs)})`;
    notes.push(`retry at ${change.retryAt}${asked}`);
  }
  if (change.status === 'AWAITING_APPROVAL') notes.push(approveHint(change.taskId));
  if (change.status === 'AWAITING_INPUT') notes.push(answerHint(change.taskId));
  const note = notes.length ? `: ${notes.join('; ')}` : '';
  return `${at}  ${where}task ${bold(change.key)} ${status(change.status)}${attempt}${note}`;
}

/** The plain line of a ticket's status change. */
export function ticketChangeLine(ticket: Pick<Ticket, 'title' | 'status'>, elapsedMs: number) {
  return `${dim(formatDuration(elapsedMs).padStart(7))}  ticket ${bold(ticket.title)} ${status(ticket.status)}`;
}

export const isFinal = (ticket: Pick<Ticket, 'status'>) => FINAL_TICKET.has(ticket.status);
