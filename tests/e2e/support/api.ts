import { z } from 'zod';
import { waitFor } from '@drover/testing';
import {
  ErrorBody,
  ErrorClass,
  LogStream,
  RunnerStatus,
  RunStatus,
  TaskStatus,
  TicketStatus,
  type SubmitTicketInput,
} from '@drover/contracts';

// What the HTTP API answers, as far as the e2e tests rely on it.

const Timestamp = z.iso.datetime();

export const RunnerView = z.object({
  id: z.string(),
  name: z.string(),
  status: RunnerStatus,
  slots: z.number().int(),
  freeSlots: z.number().int(),
  heartbeatIntervalMs: z.number().int(),
  registeredAt: Timestamp,
  lastHeartbeatAt: Timestamp,
  /** The project whose own pool it serves; null: the shared pool. */
  project: z.string().nullable(),
});
export type RunnerView = z.infer<typeof RunnerView>;

const RunnersPage = z.object({ items: z.array(RunnerView) });

export const TicketView = z.object({
  id: z.uuid(),
  title: z.string(),
  status: TicketStatus,
  tasks: z.array(
    z.object({
      id: z.uuid(),
      key: z.string(),
      status: TaskStatus,
      dependsOn: z.array(z.string()),
    }),
  ),
});
export type TicketView = z.infer<typeof TicketView>;

export const RunView = z.object({
  id: z.uuid(),
  attempt: z.number().int(),
  status: RunStatus,
  runnerId: z.string().nullable(),
  dispatchedAt: Timestamp,
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
  exitCode: z.number().int().nullable(),
  errorClass: ErrorClass.nullable(),
  errorMessage: z.string().nullable(),
  logLines: z.number().int(),
});
export type RunView = z.infer<typeof RunView>;

export const TaskView = z.object({
  id: z.uuid(),
  ticketId: z.uuid(),
  key: z.string(),
  status: TaskStatus,
  maxAttempts: z.number().int(),
  retryAt: Timestamp.nullable(),
  runs: z.array(RunView),
});
export type TaskView = z.infer<typeof TaskView>;

export const LogsView = z.object({
  runId: z.uuid(),
  totalLines: z.number().int(),
  lines: z.array(
    z.object({ n: z.number().int(), stream: LogStream, text: z.string(), ts: Timestamp }),
  ),
  nextAfter: z.number().int().nullable(),
});
export type LogsView = z.infer<typeof LogsView>;

export const TicketsPage = z.object({
  items: z.array(z.object({ id: z.uuid() })),
  nextCursor: z.string().nullable(),
});
export type TicketsPage = z.infer<typeof TicketsPage>;

export const ErrorView = z.object({ error: ErrorBody });
export type ErrorView = z.infer<typeof ErrorView>;

const Check = z.object({ status: z.enum(['up', 'down']), latencyMs: z.number() });
export const HealthView = z.object({
  status: z.string(),
  down: z.array(z.string()),
  checks: z.object({ postgres: Check, nats: Check, redis: Check }),
});
export type HealthView = z.infer<typeof HealthView>;

/** An answer as it came: its status and its body (parsed JSON, else the text). */
export interface RawAnswer {
  status: number;
  body: unknown;
}

/**
 * Polls `read` every `intervalMs` until `done` holds of what it returns; on
 * timeout, the error also shows the last value read.
 */
async function waitForView<T>(
  read: () => Promise<T>,
  done: (view: T) => boolean,
  what: string,
  timeoutMs: number,
  intervalMs: number,
): Promise<T> {
  let last: T | undefined;
  try {
    return await waitFor(
      async () => {
        last = await read();
        return done(last) && last;
      },
      what,
      timeoutMs,
      intervalMs,
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${JSON.stringify(last)}`);
  }
}

/** The gateway's HTTP API, typed; every answer is validated. */
export class DroverHttp {
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
  ) {}

  private async call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<RawAnswer> {
    const auth = { authorization: `Bearer ${this.apiKey}` };
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await res.text();
    try {
      return { status: res.status, body: JSON.parse(text) as unknown };
    } catch {
      return { status: res.status, body: text };
    }
  }

  /** GET `path`, expecting 200 and a body of `schema`. */
  async get<S extends z.ZodType>(schema: S, path: string): Promise<z.output<S>> {
    const res = await this.call('GET', path);
    if (res.status !== 200) {
      throw new Error(`GET ${path} answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
    return schema.parse(res.body);
  }

  /** POST `body` to `path`, whatever the answer: for checks of refusals. */
  post(path: string, body: unknown): Promise<RawAnswer> {
    return this.call('POST', path, body);
  }

  async submit(ticket: SubmitTicketInput): Promise<TicketView> {
    const res = await this.call('POST', '/tickets', ticket);
    if (res.status !== 201) {
      throw new Error(`POST /tickets answered ${res.status}: ${JSON.stringify(res.body)}`);
    }
    return TicketView.parse(res.body);
  }

  /** Submits a ticket of one task with one step; returns the task's id. */
  async submitStep(title: string, key: string, run: string): Promise<string> {
    const ticket = await this.submit({ title, tasks: [{ key, steps: [{ run }] }] });
    const [task] = ticket.tasks;
    if (!task) throw new Error(`ticket ${ticket.id} came back without its task`);
    return task.id;
  }

  runners(): Promise<RunnerView[]> {
    return this.get(RunnersPage, '/runners').then((page) => page.items);
  }

  async runner(id: string): Promise<RunnerView> {
    const runners = await this.runners();
    const runner = runners.find((r) => r.id === id);
    if (!runner) throw new Error(`GET /runners does not list ${id}: ${JSON.stringify(runners)}`);
    return runner;
  }

  task(id: string): Promise<TaskView> {
    return this.get(TaskView, `/tasks/${id}`);
  }

  ticket(id: string): Promise<TicketView> {
    return this.get(TicketView, `/tickets/${id}`);
  }

  logs(runId: string): Promise<LogsView> {
    return this.get(LogsView, `/runs/${runId}/logs`);
  }

  /** One page of GET /tickets: `limit` tickets from `cursor` (null: the first page). */
  ticketsPage(cursor: string | null, limit = 100): Promise<TicketsPage> {
    const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : '';
    return this.get(TicketsPage, `/tickets?limit=${limit}${query}`);
  }

  health(): Promise<HealthView> {
    return this.get(HealthView, '/health');
  }

  /** Polls GET /tasks/:id until `done` holds; a timeout names the last state seen. */
  waitForTask(
    id: string,
    done: (task: TaskView) => boolean,
    what: string,
    timeoutMs: number,
    intervalMs = 50,
  ): Promise<TaskView> {
    return waitForView(() => this.task(id), done, what, timeoutMs, intervalMs);
  }

  /** Polls GET /tickets/:id until `done` holds; a timeout names the last state seen. */
  waitForTicket(
    id: string,
    done: (ticket: TicketView) => boolean,
    what: string,
    timeoutMs: number,
    intervalMs = 50,
  ): Promise<TicketView> {
    return waitForView(() => this.ticket(id), done, what, timeoutMs, intervalMs);
  }
}
