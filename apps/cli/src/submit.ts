import { randomUUID } from 'node:crypto';
import { basename, extname } from 'node:path';
import { DroverApiError, type ErrorDetail, type Ticket } from '@drover/client';
import type { DroverApi } from './api-client';
import { compilerLines, EXIT } from './errors';
import { followTickets } from './follow';
import { expandPaths, readTicketFile, TICKET_TYPES } from './paths';
import { bold, dim, formatDuration, print, type Output } from './render';
import { ticketTable } from './status';

interface Refused {
  file: string;
  code: string;
  message: string;
  details: readonly ErrorDetail[];
}

/**
 * `drover submit <path...> [--wait]`: one ticket per file (a directory: each
 * ticket file in it), uploaded as the file so the API parses it. A file the API
 * finds invalid (422) is reported compiler-style and the others still go.
 * Exit 3 if any was refused; with --wait, 1 if any ticket did not succeed.
 */
export async function submit(
  api: DroverApi,
  paths: readonly string[],
  opts: Output & { wait: boolean },
): Promise<number> {
  const files = await expandPaths(paths);
  // Every file read before any is sent: an unreadable one submits nothing.
  const contents = await Promise.all(files.map((f) => readTicketFile(f)));
  const started = Date.now();
  const tickets: Ticket[] = [];
  const refused: Refused[] = [];
  for (const [i, file] of files.entries()) {
    try {
      const ticket = await submitOnce(api, file, contents[i]);
      tickets.push(ticket);
      if (!opts.json) process.stdout.write(`${submittedLine(api, file, ticket)}\n`);
    } catch (error) {
      if (!(error instanceof DroverApiError && error.status === 422)) throw error;
      refused.push({ file, code: error.code, message: error.message, details: error.details });
      process.stderr.write(`${compilerLines(file, error).join('\n')}\n`);
    }
  }
  const final = opts.wait
    ? await followTickets(api, tickets, { json: opts.json, fromStart: true })
    : tickets;
  if (opts.json) print(opts, '', { tickets: final, refused });
  else if (opts.wait && final.length) {
    const tables = final.map((t) => ticketTable(t)).join('\n\n');
    process.stdout.write(
      `\n${tables}\n${dim(`finished in ${formatDuration(Date.now() - started)}`)}\n`,
    );
  }
  if (refused.length) return EXIT.refused;
  return opts.wait && final.some((t) => t.status !== 'SUCCEEDED') ? EXIT.ticketFailed : EXIT.ok;
}

function submittedLine(api: DroverApi, file: string, ticket: Ticket): string {
  const n = ticket.tasks.length;
  const links = Object.values(api.linksTo('tickets', ticket.id)).map((l) => `\n  ${dim(l)}`);
  return `${file}: ticket ${bold(ticket.id)} with ${n} task${n === 1 ? '' : 's'}${links.join('')}`;
}

/**
 * Uploads a ticket file (multipart, under its base name: a work order's task key)
 * with an Idempotency-Key of this invocation, retrying while the API cannot
 * answer (5xx, unreachable): the key makes a retry return the ticket the first
 * attempt may have written, never a second one.
 */
async function submitOnce(api: DroverApi, file: string, content: Buffer): Promise<Ticket> {
  const type = TICKET_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
  const upload = { file: new Blob([content], { type }), filename: basename(file) };
  const idempotencyKey = `cli-${randomUUID()}`;
  for (let attempt = 1; ; attempt++) {
    try {
      return await api.createTicket(upload, { idempotencyKey });
    } catch (error) {
      const retryable = !(error instanceof DroverApiError) || error.status >= 500;
      if (!retryable || attempt >= 4) throw error;
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
}
