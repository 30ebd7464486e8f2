import { DroverApiError, type Task, type Ticket } from '@drover/client';
import type { DroverApi } from './api-client';
import { EXIT, isNotFound, UsageError } from './errors';
import { followTickets } from './follow';
import {
  answerHint,
  approveHint,
  isFinal,
  statusCounts,
  ticketElapsed,
  waitingText,
} from './progress';
import { bold, dim, isTty, print, status, table, type Output } from './render';
import { openInput } from './ticket-states';

/** A ticket's header and its task table (KEY, STATUS, PHASE, ATTEMPTS, DEPENDS ON, REASON). */
export function ticketTable(ticket: Ticket): string {
  return [
    `${bold(ticket.title)}  ${status(ticket.status)}  ${dim(ticket.id)}`,
    `${statusCounts(ticket.tasks)}  ${dim(ticketElapsed(ticket, Date.now()))}`,
    table(
      ['KEY', 'STATUS', 'PHASE', 'ATTEMPTS', 'DEPENDS ON', 'REASON'],
      ticket.tasks.map((t) => [
        t.key,
        status(t.status),
        t.phase ?? '',
        String(t.attempt),
        t.dependsOn.join(', '),
        t.reason ?? (t.waiting ? waitingText(t.waiting) : ''),
      ]),
    ),
  ].join('\n');
}

function approvalLine(task: Task): string | undefined {
  const a = task.approval;
  if (!a) return undefined;
  if (!a.decision) {
    const due = a.dueAt ? `, due ${a.dueAt}` : '';
    return `requested ${a.requestedAt}${due}: ${approveHint(task.id)}`;
  }
  const comment = a.comment ? `: "${a.comment}"` : '';
  return `${a.decision} by ${a.decidedBy ?? '?'} at ${a.decidedAt ?? '?'}${comment}`;
}

function inputLine(task: Task): string | undefined {
  const ask = openInput(task);
  if (!ask) return undefined;
  const choices = ask.choices?.length ? ` (one of ${ask.choices.join(', ')})` : '';
  const secret = ask.secret ? ' (secret)' : '';
  return `${ask.name}${secret}: "${ask.prompt}"${choices}: ${answerHint(task.id, ask.secret)}`;
}

/** One task: its status, reason, approval, open input request and runs. */
export function taskView(task: Task): string {
  const fields: [string, string | undefined][] = [
    ['ticket', task.ticketId],
    ['title', task.title ?? undefined],
    ['phase', task.phase ?? undefined],
    ['attempts', `${task.attempt}${task.maxAttempts ? ` of ${task.maxAttempts}` : ''}`],
    ['depends on', task.dependsOn.map((d) => `${d.key} (${d.status})`).join(', ') || undefined],
    ['reason', task.reason ?? undefined],
    [
      'waiting',
      task.waiting ? `${waitingText(task.waiting)} (since ${task.waiting.since})` : undefined,
    ],
    ['approval', approvalLine(task)],
    ['input', inputLine(task)],
  ];
  const runs = task.runs.length
    ? table(
        ['RUN', 'ATTEMPT', 'STATUS', 'RUNNER', 'STARTED', 'FINISHED', 'EXIT', 'ERROR'],
        task.runs.map((r) => [
          r.id,
          String(r.attempt),
          status(r.status),
          r.runnerId ?? '',
          r.startedAt ?? '',
          r.finishedAt ?? '',
          r.exitCode === null ? '' : String(r.exitCode),
          [r.errorClass, r.errorMessage].filter(Boolean).join(': '),
        ]),
      )
    : dim('no runs yet');
  return [
    `${bold(task.key)}  ${status(task.status)}  ${dim(task.id)}`,
    ...fields.filter(([, v]) => v).map(([k, v]) => `${k.padEnd(11)}${v}`),
    '',
    runs,
  ].join('\n');
}

/**
 * `drover status [id] [--watch]`: the recent tickets; a ticket with its tasks; or,
 * for a task's id, that task. --watch follows the ticket (a task's: its ticket)
 * until it ends: exit 0 when it succeeded, 1 otherwise.
 */
export async function statusCommand(
  api: DroverApi,
  id: string | undefined,
  opts: Output & { watch: boolean },
): Promise<number> {
  if (!id) {
    if (opts.watch) throw new UsageError('--watch follows one ticket: drover status <id> --watch');
    return recentTickets(api, opts);
  }
  let ticket: Ticket;
  try {
    ticket = await api.getTicket(id);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    const task = await api.getTask(id).catch((e: unknown) => {
      throw isNotFound(e)
        ? new DroverApiError(404, 'NOT_FOUND', `no ticket or task with id ${id}`)
        : e;
    });
    if (!opts.watch) {
      print(opts, taskView(task), task);
      return EXIT.ok;
    }
    if (!opts.json) process.stdout.write(`${taskView(task)}\n\nits ticket:\n`);
    ticket = await api.getTicket(task.ticketId);
  }
  if (!opts.watch) {
    print(opts, ticketTable(ticket), ticket);
    return EXIT.ok;
  }
  return watch(api, ticket, opts);
}

async function watch(api: DroverApi, ticket: Ticket, opts: Output): Promise<number> {
  // Off a terminal, the state first: the lines that follow are changes to it.
  if (!opts.json && !isTty() && !isFinal(ticket))
    process.stdout.write(`${ticketTable(ticket)}\n\n`);
  const [final] = await followTickets(api, [ticket], { json: opts.json, fromStart: false });
  // A ticket final from the start has no progress above its table.
  print(opts, `${isFinal(ticket) ? '' : '\n'}${ticketTable(final)}`, final);
  return final.status === 'SUCCEEDED' ? EXIT.ok : EXIT.ticketFailed;
}

async function recentTickets(api: DroverApi, opts: Output): Promise<number> {
  const page = await api.listTickets({ limit: 20 });
  print(
    opts,
    table(
      ['TICKET', 'STATUS', 'TASKS', 'CREATED', 'TITLE'],
      page.items.map((t) => [t.id, status(t.status), String(t.taskCount), t.createdAt, t.title]),
    ),
    page,
  );
  return EXIT.ok;
}

/** `drover runners`: the shared runners and the project's own. */
export async function runners(api: DroverApi, opts: Output): Promise<number> {
  const page = await api.listRunners();
  print(
    opts,
    table(
      ['RUNNER', 'POOL', 'STATUS', 'SLOTS', 'FREE', 'LAST HEARTBEAT'],
      page.items.map((r) => [
        r.id,
        r.project ?? 'shared',
        status(r.status),
        String(r.slots),
        String(r.freeSlots),
        r.lastHeartbeatAt,
      ]),
    ),
    page,
  );
  return EXIT.ok;
}
