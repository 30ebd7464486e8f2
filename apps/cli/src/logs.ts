import { DroverApiError, type LogEntry, type StreamEvent } from '@drover/client';
import type { DroverApi } from './api-client';
import { EXIT, isNotFound } from './errors';
import type { EventStream } from './event-stream';
import { dim, print, type Output } from './render';
import { FINAL_RUN, FINAL_TASK, newestRun } from './ticket-states';

/** What `drover logs` shows: one run, or a task's newest run (and, following, its next attempts). */
interface Target {
  taskId: string;
  runId: string | undefined;
  byTask: boolean;
}

const PAGE = 1000;

const getTask = (api: DroverApi, id: string) => api.getTask(id);

const logPage = (api: DroverApi, runId: string, after: number, limit = PAGE) =>
  api.getRunLogs(runId, { after, limit });

/** A run's id, or else a task's (its newest run); neither is a 404 saying so. */
async function resolve(api: DroverApi, id: string): Promise<Target> {
  try {
    const page = await logPage(api, id, 0, 1);
    return { taskId: page.taskId, runId: id, byTask: false };
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const task = await getTask(api, id).catch((error: unknown) => {
    throw isNotFound(error)
      ? new DroverApiError(404, 'NOT_FOUND', `no run or task with id ${id}`)
      : error;
  });
  return { taskId: task.id, runId: newestRun(task)?.id, byTask: true };
}

const lineText = (l: LogEntry) => `${l.stream === 'stderr' ? dim(l.text) : l.text}\n`;

/**
 * `drover logs <run|task> [-f]`: a run's lines (a task's: its newest run's);
 * stderr dimmed on a terminal. -f follows until the run (a task: the task) is
 * final, across a task's next attempts, printing each line once and in order.
 */
export async function logs(
  api: DroverApi,
  id: string,
  opts: Output & { follow: boolean },
): Promise<number> {
  const target = await resolve(api, id);
  if (opts.follow) {
    await new LogFollower(api, target, opts).run();
    return EXIT.ok;
  }
  if (!target.runId) {
    process.stderr.write(`task ${target.taskId} has not run yet\n`);
    if (opts.json) print(opts, '', []);
    return EXIT.ok;
  }
  const all: LogEntry[] = [];
  for (let after: number | null = 0; after !== null;) {
    const page = await logPage(api, target.runId, after);
    if (opts.json) all.push(...page.lines);
    else for (const l of page.lines) process.stdout.write(lineText(l));
    after = page.nextAfter;
  }
  if (opts.json) print(opts, '', all);
  return EXIT.ok;
}

/**
 * Prints a run's lines as `log.appended` events bring them, reading by HTTP
 * what the stream skipped (before it opened, while it was down): `next` is the
 * first line number not printed yet, so nothing prints twice or out of order.
 */
class LogFollower {
  private runId: string | undefined;
  private next = 0;
  private readonly seen = new Set<string>();
  private queue: Promise<void> = Promise.resolve();
  private stream: EventStream | undefined;
  private settle: ((error?: Error) => void) | undefined;

  constructor(
    private readonly api: DroverApi,
    private readonly target: Target,
    private readonly opts: Output,
  ) {
    this.runId = target.runId;
    if (this.runId) this.seen.add(this.runId);
  }

  async run(): Promise<void> {
    const task = await getTask(this.api, this.target.taskId);
    await new Promise<void>((resolve, reject) => {
      this.settle = (error) => {
        this.settle = undefined;
        this.stream?.close();
        if (error) reject(error);
        else resolve();
      };
      this.stream = this.api.events(task.ticketId, {
        onOpen: () => this.enqueue(() => this.sync()),
        onEvent: (event) => this.enqueue(() => this.onEvent(event)),
      });
      this.stream.ended.catch((error: Error) => this.settle?.(error));
    });
  }

  /** Steps run one at a time, in the order they came. */
  private enqueue(step: () => Promise<void>): void {
    this.queue = this.queue
      .then(() => (this.settle ? step() : undefined))
      .catch((error: Error) => this.settle?.(error));
  }

  /** Catches up by HTTP (on each connection): a newer attempt, missed lines, an end. */
  private async sync(): Promise<void> {
    if (!this.target.byTask) {
      const status = await this.drain();
      if (status && FINAL_RUN.has(status)) await this.end();
      return;
    }
    const task = await getTask(this.api, this.target.taskId);
    const newest = newestRun(task);
    if (newest && !this.seen.has(newest.id)) await this.switchTo(newest.id, newest.attempt);
    await this.drain();
    if (FINAL_TASK.has(task.status)) await this.end();
  }

  private async onEvent(event: StreamEvent): Promise<void> {
    const { taskId, byTask } = this.target;
    if (event.type === 'log.appended') {
      const d = event.data as StreamEvent<'log.appended'>['data'];
      if (byTask && d.taskId === taskId && !this.seen.has(d.runId)) await this.switchTo(d.runId);
      if (d.runId !== this.runId) return;
      // A gap (lines written before the stream opened) is read by HTTP first.
      if (d.firstLine > this.next) await this.drain();
      d.lines.forEach((line, i) => this.emit({ n: d.firstLine + i, ...line }));
    } else if (event.type === 'run.changed') {
      const d = event.data as StreamEvent<'run.changed'>['data'];
      if (byTask && d.taskId === taskId && !this.seen.has(d.runId)) {
        await this.switchTo(d.runId, d.attempt);
      } else if (!byTask && d.runId === this.runId && FINAL_RUN.has(d.status)) await this.end();
    } else if (event.type === 'task.changed') {
      const d = event.data as StreamEvent<'task.changed'>['data'];
      if (byTask && d.taskId === taskId && FINAL_TASK.has(d.status)) await this.end();
    }
  }

  /** Finishes the current run's lines, then follows `runId` (the task's next attempt). */
  private async switchTo(runId: string, attempt?: number): Promise<void> {
    if (this.runId) await this.drain(true);
    const first = this.runId === undefined;
    this.runId = runId;
    this.next = 0;
    this.seen.add(runId);
    if (!first && !this.opts.json) {
      const which = attempt ? `attempt ${attempt}, ` : '';
      process.stdout.write(`${dim(`--- ${which}run ${runId} ---`)}\n`);
    }
  }

  /**
   * Prints the current run's lines from `next` as far as the API has them, in
   * order; answers its status. Until the end, a missing line is waited for (its
   * batch is on its way); at the end (`ended`) it never comes: it was lost, and
   * the lines after it print after a note saying how many.
   */
  private async drain(ended = false): Promise<string | undefined> {
    const runId = this.runId;
    if (!runId) return undefined;
    for (;;) {
      const page = await logPage(this.api, runId, this.next);
      const first = page.lines[0];
      if (first && first.n > this.next) {
        if (!ended) return page.status;
        this.skipTo(first.n);
      }
      for (const line of page.lines) this.emit(line);
      if (page.nextAfter === null) return page.status;
      if (!page.lines.length) {
        if (!ended) return page.status;
        this.skipTo(page.nextAfter);
      }
    }
  }

  private skipTo(n: number): void {
    const lost = n - this.next;
    this.next = n;
    if (!this.opts.json) process.stderr.write(`${dim(`--- ${lost} lines lost ---`)}\n`);
  }

  private emit(line: LogEntry): void {
    if (line.n !== this.next) return;
    this.next += 1;
    process.stdout.write(
      this.opts.json ? `${JSON.stringify({ runId: this.runId, ...line })}\n` : lineText(line),
    );
  }

  /** The run (task) is final, so its log is complete: every stored line prints before exit. */
  private async end(): Promise<void> {
    await this.drain(true);
    this.settle?.();
  }
}
