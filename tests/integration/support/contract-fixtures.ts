import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testGit, waitFor } from '@drover/testing';
import { DEFAULT_PROJECT } from '@drover/workflow';
import type { InProcessStack } from './in-process-stack';
import type { Answer } from './openapi-contract';

// The data the API contract test calls every route with, made through the API.

export interface Fixtures {
  ran: { ticket: string; task: string; run: string };
  failedRun: string;
  gated: { approve: string; reject: string };
  asking: string;
  rerunTicket: string;
  rerunTask: string;
  cancelTicket: string;
  cancelTask: string;
  spare: string;
  experiments: { read: string; spare: string };
  spareKey: string;
}

export interface SendOptions {
  body?: unknown;
  /** Whose key (default: the stack's admin key); null: none. */
  key?: string | null;
  contentType?: string;
}

export type Send = (method: string, path: string, options?: SendOptions) => Promise<Answer>;

/** Sends a request to the stack's gateway as it is: its status, content type and text. */
export const sender =
  (stack: InProcessStack): Send =>
  async (method, path, options = {}) => {
    const key = options.key === undefined ? stack.apiKey : options.key;
    const text = typeof options.body === 'string';
    const res = await fetch(`${stack.baseUrl}${path}`, {
      method,
      headers: {
        ...(key ? { authorization: `Bearer ${key}` } : {}),
        ...(options.body === undefined
          ? {}
          : { 'content-type': options.contentType ?? 'application/json' }),
      },
      body:
        options.body === undefined
          ? undefined
          : text
            ? (options.body as string)
            : JSON.stringify(options.body),
    });
    return {
      status: res.status,
      contentType: res.headers.get('content-type') ?? '',
      text: await res.text(),
    };
  };

export const json = <T>(answer: Answer): T => JSON.parse(answer.text) as T;

interface TicketBody {
  id: string;
  status: string;
  tasks: { id: string; key: string; status: string }[];
}

async function submit(send: Send, ticket: unknown): Promise<TicketBody> {
  const answer = await send('POST', '/tickets', { body: ticket });
  if (answer.status !== 201) throw new Error(`ticket refused: ${answer.text}`);
  return json<TicketBody>(answer);
}

/** The ticket once `done` says so of it. */
function ticketWhen(send: Send, id: string, done: (t: TicketBody) => boolean, what: string) {
  return waitFor(
    async () => {
      const t = json<TicketBody>(await send('GET', `/tickets/${id}`));
      return done(t) ? t : undefined;
    },
    `ticket ${id}: ${what}`,
    60_000,
    100,
  );
}

const allIn = (status: string) => (t: TicketBody) => t.tasks.every((k) => k.status === status);
const final = (t: TicketBody) => ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(t.status);

async function newestRunOf(send: Send, taskId: string): Promise<string> {
  const task = json<{ runs: { id: string }[] }>(await send('GET', `/tasks/${taskId}`));
  const run = task.runs.at(-1);
  if (!run) throw new Error(`task ${taskId} has no run`);
  return run.id;
}

async function experimentDone(send: Send): Promise<string> {
  const created = await send('POST', '/experiments', {
    body: {
      agents: ['nop'],
      tasks: [{ name: 'noop', document: '---\ntitle: nothing to do\n---\nDo nothing.' }],
    },
  });
  if (created.status !== 201) throw new Error(`experiment refused: ${created.text}`);
  const { id } = json<{ id: string }>(created);
  await waitFor(
    async () =>
      json<{ status: string }>(await send('GET', `/experiments/${id}`)).status === 'SUCCEEDED',
    `experiment ${id} to finish`,
    60_000,
    100,
  );
  return id;
}

/** A local repository the ran ticket changes (so its run has a diff). */
export async function makeRepo(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'drover-contract-'));
  const source = join(dir, 'source');
  const git = (...args: string[]) => testGit(dir, source, ...args);
  await testGit(dir, dir, 'init', '-q', '-b', 'main', source);
  await writeFile(join(source, 'README.md'), 'a repository\n');
  await git('add', '-A');
  await git('commit', '-q', '-m', 'first');
  return dir;
}

/**
 * Real data for every route: a ticket that ran against `repo` (logs, artifacts, a
 * diff), a failed run, tasks waiting for approval and for input, tickets to
 * rerun, cancel and delete, finished experiments, a key to revoke.
 */
export async function prepareFixtures(send: Send, repo: string): Promise<Fixtures> {
  const step = (run: string) => [{ run }];
  const ask = `if [ -z "$COLOUR" ]; then echo '{"name":"COLOUR","prompt":"which colour?","choices":["blue","red"]}' > "$DROVER_REQUEST"; exit 3; fi; echo "$COLOUR"`;
  const [ran, failed, gated, asking, rerunTicket, rerunTask, spare] = await Promise.all([
    submit(send, {
      title: 'contract: ran',
      labels: ['contract'],
      tasks: [
        {
          key: 'change',
          repo: join(repo, 'source'),
          clone_branch: 'main',
          steps: step('echo changing; echo changed >> README.md; echo done >&2'),
        },
      ],
    }),
    submit(send, {
      title: 'contract: failed',
      tasks: [{ key: 'fails', retry: { max_attempts: 1 }, steps: step('exit 1') }],
    }),
    submit(send, {
      title: 'contract: gated',
      tasks: [
        { key: 'approve', requires_approval: true, steps: step('true') },
        { key: 'reject', requires_approval: true, steps: step('true') },
      ],
    }),
    submit(send, { title: 'contract: asks', tasks: [{ key: 'asks', steps: step(ask) }] }),
    submit(send, {
      title: 'contract: rerun ticket',
      tasks: [{ key: 'a', retry: { max_attempts: 1 }, steps: step('exit 1') }],
    }),
    submit(send, {
      title: 'contract: rerun task',
      tasks: [
        { key: 'a', retry: { max_attempts: 1 }, steps: step('exit 1') },
        { key: 'b', depends_on: ['a'], steps: step('true') },
      ],
    }),
    submit(send, { title: 'contract: spare', tasks: [{ key: 'a', steps: step('true') }] }),
  ]);
  const [cancelTicket, cancelTask] = await Promise.all([
    submit(send, {
      title: 'contract: cancel ticket',
      tasks: [{ key: 'a', steps: step('sleep 60') }],
    }),
    submit(send, {
      title: 'contract: cancel task',
      tasks: [
        { key: 'a', steps: step('sleep 60') },
        { key: 'b', depends_on: ['a'], steps: step('true') },
      ],
    }),
  ]);
  await Promise.all([
    ticketWhen(send, ran.id, (t) => t.status === 'SUCCEEDED', 'SUCCEEDED'),
    ticketWhen(send, failed.id, final, 'final'),
    ticketWhen(send, gated.id, allIn('AWAITING_APPROVAL'), 'awaiting approval'),
    ticketWhen(send, asking.id, allIn('AWAITING_INPUT'), 'awaiting input'),
    ticketWhen(send, rerunTicket.id, final, 'final'),
    ticketWhen(send, rerunTask.id, final, 'final'),
    ticketWhen(send, spare.id, final, 'final'),
  ]);
  const [read, spareExperiment] = await Promise.all([experimentDone(send), experimentDone(send)]);
  const issued = await send('POST', `/projects/${DEFAULT_PROJECT.id}/keys`, {
    body: { name: 'contract spare', role: 'viewer' },
  });
  const byKey = (t: TicketBody, key: string) => t.tasks.find((k) => k.key === key)?.id ?? '';
  return {
    ran: { ticket: ran.id, task: ran.tasks[0].id, run: await newestRunOf(send, ran.tasks[0].id) },
    failedRun: await newestRunOf(send, failed.tasks[0].id),
    gated: { approve: byKey(gated, 'approve'), reject: byKey(gated, 'reject') },
    asking: asking.tasks[0].id,
    rerunTicket: rerunTicket.id,
    rerunTask: byKey(rerunTask, 'a'),
    cancelTicket: cancelTicket.id,
    cancelTask: byKey(cancelTask, 'a'),
    spare: spare.id,
    experiments: { read, spare: spareExperiment },
    spareKey: json<{ id: string }>(issued).id,
  };
}
