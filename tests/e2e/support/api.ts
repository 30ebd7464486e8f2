import { z } from 'zod';
import {
  ErrorClass,
  LogStream,
  RunnerStatus,
  RunStatus,
  TaskStatus,
  TicketStatus,
  type SubmitTicketInput,
} from '@drover/contracts';

// What the HTTP API answers, as far as the lifecycle tests rely on it.

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
});
export type RunnerView = z.infer<typeof RunnerView>;

const RunnersPage = z.object({ items: z.array(RunnerView) });

export const TicketView = z.object({
  id: z.uuid(),
  status: TicketStatus,
  tasks: z.array(z.object({ id: z.uuid(), key: z.string(), status: TaskStatus })),
});
export type TicketView = z.infer<typeof TicketView>;

export const RunView = z.object({
  id: z.uuid(),
  attempt: z.number().int(),
  status: RunStatus,
  runnerId: z.string().nullable(),
  startedAt: Timestamp.nullable(),
  finishedAt: Timestamp.nullable(),
  exitCode: z.number().int().nullable(),
  errorClass: ErrorClass.nullable(),
  errorMessage: z.string().nullable(),
});
export type RunView = z.infer<typeof RunView>;

export const TaskView = z.object({
  id: z.uuid(),
  ticketId: z.uuid(),
  key: z.string(),
  status: TaskStatus,
  runs: z.array(RunView),
});
export type TaskView = z.infer<typeof TaskView>;

const LogsView = z.object({
  runId: z.uuid(),
  lines: z.array(z.object({ n: z.number().int(), stream: LogStream, text: z.string() })),
});
export type LogsView = z.infer<typeof LogsView>;

/** The gateway's HTTP API, typed; every answer is validated. */
export class DroverHttp {
  constructor(private readonly baseUrl: string) {}

  private async call(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
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
}
