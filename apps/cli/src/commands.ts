import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { StreamEvent } from '@drover/contracts';
import { ApiError, type DroverApi } from './api-client';
import { bold, dim, formatBytes, status, table } from './render';

interface Task {
  id: string;
  key: string;
  status: string;
  attempt: number;
  dependsOn: string[];
}
interface Ticket {
  id: string;
  title: string;
  status: string;
  createdAt: string;
  tasks: Task[];
}

export interface Output {
  json: boolean;
}

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'CANCELLED']);

export function print(out: Output, human: string, data: unknown): void {
  process.stdout.write(out.json ? `${JSON.stringify(data, null, 2)}\n` : `${human}\n`);
}

export function ticketTable(ticket: Ticket): string {
  return [
    `${bold(ticket.title)}  ${status(ticket.status)}  ${dim(ticket.id)}`,
    table(
      ['TASK', 'STATUS', 'ATTEMPTS', 'DEPENDS ON'],
      ticket.tasks.map((t) => [t.key, status(t.status), String(t.attempt), t.dependsOn.join(', ')]),
    ),
  ].join('\n');
}

/** `drover submit <file> [--wait]`: exit code 0 when submitted (or, with --wait, succeeded). */
export async function submit(
  api: DroverApi,
  file: string,
  opts: Output & { wait: boolean },
): Promise<number> {
  let body: unknown;
  try {
    body = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read ${file} as JSON: ${(error as Error).message}`);
  }
  const ticket = await submitOnce(api, body);
  const url = new URL(`/tickets/${ticket.id}`, api.baseUrl).toString();
  if (!opts.wait) {
    print(opts, `submitted ticket ${bold(ticket.id)} with ${ticket.tasks.length} tasks\n${url}`, {
      ...ticket,
      url,
    });
    return 0;
  }
  if (!opts.json)
    process.stdout.write(
      `submitted ticket ${bold(ticket.id)} (${ticket.tasks.length} tasks)\n${dim(url)}\n`,
    );
  const started = Date.now();
  await api.follow(ticket.id, (event) => {
    if (!opts.json) progress(event, started);
    return (
      event.type === 'ticket.changed' && TERMINAL.has((event.data as { status: string }).status)
    );
  });
  const final = await api.request<Ticket>('GET', `/tickets/${ticket.id}`);
  print(
    opts,
    `\n${ticketTable(final)}\n${dim(`finished in ${((Date.now() - started) / 1000).toFixed(1)} s`)}`,
    final,
  );
  return final.status === 'SUCCEEDED' ? 0 : 1;
}

/**
 * POSTs the ticket with an Idempotency-Key of this invocation, retrying while
 * the API cannot answer (5xx, unreachable): the key makes a retry return the
 * ticket the first attempt may have written, never a second one.
 */
async function submitOnce(api: DroverApi, body: unknown): Promise<Ticket> {
  const headers = { 'idempotency-key': `cli-${randomUUID()}` };
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.request<Ticket>('POST', '/tickets', body, headers);
    } catch (error) {
      const retryable = !(error instanceof ApiError) || error.status >= 500;
      if (!retryable || attempt >= 4) throw error;
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
}

function progress(event: StreamEvent, started: number): void {
  const at = dim(`${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s`);
  switch (event.type) {
    case 'task.changed': {
      const d = event.data as { key: string; status: string };
      process.stdout.write(`${at} task ${bold(d.key)} ${status(d.status)}\n`);
      break;
    }
    case 'log.appended': {
      const d = event.data as { lines: { stream: string; text: string }[] };
      for (const line of d.lines) {
        if (line.stream !== 'system') process.stdout.write(`${at}   ${dim('|')} ${line.text}\n`);
      }
      break;
    }
    case 'ticket.changed': {
      const d = event.data as { status: string };
      process.stdout.write(`${at} ticket ${status(d.status)}\n`);
      break;
    }
    case 'artifact.stored': {
      const d = event.data as { name: string; size: number };
      process.stdout.write(`${at}   ${dim(`stored ${d.name} (${formatBytes(d.size)})`)}\n`);
      break;
    }
    case 'run.changed':
    case 'runner.changed':
      break;
  }
}

export async function statusCommand(
  api: DroverApi,
  id: string | undefined,
  opts: Output,
): Promise<number> {
  if (id) {
    const ticket = await api.request<Ticket>('GET', `/tickets/${encodeURIComponent(id)}`);
    print(opts, ticketTable(ticket), ticket);
    return 0;
  }
  const page = await api.request<{ items: (Omit<Ticket, 'tasks'> & { taskCount: number })[] }>(
    'GET',
    '/tickets?limit=20',
  );
  print(
    opts,
    table(
      ['TICKET', 'STATUS', 'TASKS', 'CREATED', 'TITLE'],
      page.items.map((t) => [t.id, status(t.status), String(t.taskCount), t.createdAt, t.title]),
    ),
    page,
  );
  return 0;
}

export async function runners(api: DroverApi, opts: Output): Promise<number> {
  const page = await api.request<{
    items: {
      id: string;
      status: string;
      slots: number;
      freeSlots: number;
      lastHeartbeatAt: string;
      project: string | null;
    }[];
  }>('GET', '/runners');
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
  return 0;
}

export async function logs(api: DroverApi, runId: string, opts: Output): Promise<number> {
  let after = 0;
  const all: unknown[] = [];
  for (;;) {
    const page = await api.request<{
      lines: { n: number; stream: string; text: string }[];
      nextAfter: number | null;
    }>('GET', `/runs/${encodeURIComponent(runId)}/logs?after=${after}&limit=1000`);
    if (opts.json) all.push(...page.lines);
    else
      for (const l of page.lines)
        process.stdout.write(`${l.stream === 'stderr' ? dim(l.text) : l.text}\n`);
    if (page.nextAfter === null) break;
    after = page.nextAfter;
  }
  if (opts.json) print(opts, '', all);
  return 0;
}

/** Cancels a ticket (`target` 'ticket') or one task; 409 when it is already final. */
export async function cancel(
  api: DroverApi,
  target: 'ticket' | 'task',
  id: string,
  opts: Output,
): Promise<number> {
  const path = `/${target}s/${encodeURIComponent(id)}/cancel`;
  const result = await api.request<{
    cancelled: { id: string; key: string; previous: string }[];
    blocked: { id: string; key: string }[];
  }>('POST', path, {});
  const lines = [
    ...result.cancelled.map((t) => `cancelled ${t.key} (was ${t.previous})`),
    ...result.blocked.map((t) => `blocked   ${t.key}`),
  ];
  print(opts, lines.join('\n'), result);
  return 0;
}
