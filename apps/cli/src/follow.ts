import { DroverApiError, type StreamEvent, type Task, type Ticket } from '@drover/client';
import type { DroverApi } from './api-client';
import type { EventStream } from './event-stream';
import { changeLine, isFinal, progressFrame, ticketChangeLine, waitingLine } from './progress';
import { isTty } from './render';
import { LiveRegion } from './screen';
import { FINAL_TASK } from './ticket-states';

export interface FollowOptions {
  /** --json: show no progress, only the result at the end. */
  json: boolean;
  /** Replay each ticket's events from its start (a ticket just submitted), not only from now. */
  fromStart: boolean;
}

/** Read the tickets again this often even without events (a safety net, and for elapsed times). */
const RESYNC_MS = 5000;
const TICK_MS = 1000;
/** Statuses in which a task waits for a person's command. */
const WAITING = new Set(['AWAITING_APPROVAL', 'AWAITING_INPUT']);

/**
 * Follows tickets until each is final and answers them as they ended. On a
 * terminal a compact display is redrawn in place; elsewhere (CI) each task
 * status change is one plain line; with --json nothing is shown. The event
 * stream says when to look; what is shown is always the ticket as the API
 * answers it (GET /tickets/:id), so a missed event costs nothing but time.
 */
export function followTickets(
  api: DroverApi,
  tickets: readonly Ticket[],
  opts: FollowOptions,
): Promise<Ticket[]> {
  return new TicketFollower(api, tickets, opts).run();
}

class TicketFollower {
  private readonly tickets = new Map<string, Ticket>();
  private readonly details = new Map<string, Task>();
  /** Which status and attempt each cached detail was read for. */
  private readonly detailOf = new Map<string, string>();
  private readonly streams: EventStream[] = [];
  /** The last run error of each task, for the plain line of its failure. */
  private readonly runErrors = new Map<string, string>();
  private readonly reading = new Set<string>();
  /** Tasks whose wait for a person (approval, input) has had its line, by `id:status`. */
  private readonly hinted = new Set<string>();
  /** The waiting reason last said of each task (null: that a runner can take it). */
  private readonly saidWaiting = new Map<string, string | null>();
  private readonly stale = new Set<string>();
  private readonly mode: 'live' | 'plain' | 'quiet';
  private readonly region: LiveRegion | undefined;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private settle: ((error?: Error) => void) | undefined;

  constructor(
    private readonly api: DroverApi,
    tickets: readonly Ticket[],
    private readonly opts: FollowOptions,
  ) {
    for (const t of tickets) this.tickets.set(t.id, t);
    this.mode = opts.json ? 'quiet' : isTty() ? 'live' : 'plain';
    this.region = this.mode === 'live' ? new LiveRegion() : undefined;
  }

  run(): Promise<Ticket[]> {
    return new Promise<Ticket[]>((resolve, reject) => {
      this.settle = (error) => {
        this.settle = undefined;
        clearInterval(this.timer);
        for (const s of this.streams) s.close();
        this.region?.clear();
        if (error) reject(error);
        else resolve([...this.tickets.values()]);
      };
      if (this.allFinal()) return this.settle();
      for (const ticket of this.tickets.values()) {
        if (isFinal(ticket)) continue;
        const stream = this.api.events(
          ticket.id,
          {
            onOpen: () => this.read(ticket.id),
            onEvent: (event) => this.onEvent(ticket.id, event),
          },
          this.opts.fromStart ? 0 : undefined,
        );
        stream.ended.catch((error: Error) => this.settle?.(error));
        this.streams.push(stream);
      }
      let ticks = 0;
      this.timer = setInterval(() => {
        ticks += 1;
        if ((ticks * TICK_MS) % RESYNC_MS === 0) for (const id of this.open()) this.read(id);
        this.draw();
      }, TICK_MS);
      this.draw();
    });
  }

  private onEvent(ticketId: string, event: StreamEvent): void {
    const elapsed = Date.now() - this.started;
    const title = this.tickets.size > 1 ? this.tickets.get(ticketId)?.title : undefined;
    if (event.type === 'task.changed') {
      const change = event.data as StreamEvent<'task.changed'>['data'];
      const error = this.runErrors.get(change.taskId);
      if (this.mode === 'plain' && this.firstSaid(change.taskId, change.status))
        process.stdout.write(`${changeLine(change, elapsed, title, error)}\n`);
      // A task that runs (or ended) waits for no runner: its next wait is news again.
      if (change.status !== 'READY' && change.status !== 'DISPATCHED')
        this.saidWaiting.delete(change.taskId);
      this.read(ticketId);
    } else if (event.type === 'task.waiting') {
      const change = event.data as StreamEvent<'task.waiting'>['data'];
      if (this.mode === 'plain') this.sayWaiting(change, title);
      this.read(ticketId);
    } else if (event.type === 'run.changed') {
      const run = event.data as StreamEvent<'run.changed'>['data'];
      const error = [run.errorClass, run.errorMessage].filter(Boolean).join(': ');
      if (error) this.runErrors.set(run.taskId, error);
    } else if (event.type === 'ticket.changed') {
      const change = event.data as StreamEvent<'ticket.changed'>['data'];
      const ticket = this.tickets.get(ticketId);
      if (this.mode === 'plain' && ticket)
        process.stdout.write(
          `${ticketChangeLine({ ...ticket, status: change.status }, elapsed)}\n`,
        );
      this.read(ticketId);
    }
  }

  /** Reads a ticket again; reads asked for while one is under way become one more after it. */
  private read(id: string): void {
    if (this.reading.has(id)) {
      this.stale.add(id);
      return;
    }
    this.reading.add(id);
    this.fetch(id)
      .catch((error: Error) => {
        // The API refusing (the ticket gone, the key revoked) ends the watch; an
        // outage does not: the stream reconnects and the next resync reads again.
        if (error instanceof DroverApiError && error.status < 500) this.settle?.(error);
      })
      .finally(() => {
        this.reading.delete(id);
        if (this.stale.delete(id) && this.settle) this.read(id);
      });
  }

  private async fetch(id: string): Promise<void> {
    const ticket = await this.api.getTicket(id);
    this.tickets.set(id, ticket);
    if (this.mode === 'plain') this.hintWaiting(ticket);
    if (this.mode === 'live') await this.readDetails(ticket);
    if (this.allFinal()) this.settle?.();
    else this.draw();
  }

  /** Input prompts and run errors, which only GET /tasks/:id carries; read once per status. */
  private async readDetails(ticket: Ticket): Promise<void> {
    for (const task of ticket.tasks) {
      const wanted =
        task.status === 'AWAITING_INPUT' ||
        (FINAL_TASK.has(task.status) && task.status !== 'SUCCEEDED' && !task.reason);
      const version = `${task.status}:${task.attempt}`;
      if (!wanted || this.detailOf.get(task.id) === version) continue;
      const detail = await this.api.getTask(task.id);
      this.details.set(task.id, detail);
      this.detailOf.set(task.id, version);
    }
  }

  /**
   * A line with its command for each task of `ticket` waiting for a person that
   * none has said so yet: one that was waiting before the watch began (no event
   * will come for it), or whose event the stream has not delivered yet.
   */
  private hintWaiting(ticket: Ticket): void {
    const elapsed = Date.now() - this.started;
    const title = this.tickets.size > 1 ? ticket.title : undefined;
    for (const task of ticket.tasks) {
      if (task.waiting)
        this.sayWaiting({ taskId: task.id, key: task.key, waiting: task.waiting }, title);
      if (!WAITING.has(task.status) || !this.firstSaid(task.id, task.status)) continue;
      const change = {
        taskId: task.id,
        ticketId: ticket.id,
        key: task.key,
        status: task.status,
        previous: null,
        attempt: task.attempt,
      };
      process.stdout.write(`${changeLine(change, elapsed, title)}\n`);
    }
  }

  /**
   * A line for a task's wait for a runner (its reason, or that a runner can take
   * it now), when it differs from the last said: whether the stream's event or
   * a read of the ticket (a wait that began before the watch) shows it first.
   */
  private sayWaiting(
    change: Pick<StreamEvent<'task.waiting'>['data'], 'taskId' | 'key' | 'waiting'>,
    title: string | undefined,
  ): void {
    const reason = change.waiting?.reason ?? null;
    const said = this.saidWaiting.get(change.taskId);
    if (said === reason || (said === undefined && reason === null)) return;
    this.saidWaiting.set(change.taskId, reason);
    process.stdout.write(`${waitingLine(change, Date.now() - this.started, title)}\n`);
  }

  /**
   * Whether a task's change to `status` is news: a wait for a person is said
   * once while it lasts, whether its event or a read of the ticket shows it first.
   */
  private firstSaid(taskId: string, status: string): boolean {
    if (!WAITING.has(status)) {
      for (const waiting of WAITING) this.hinted.delete(`${taskId}:${waiting}`);
      return true;
    }
    const key = `${taskId}:${status}`;
    if (this.hinted.has(key)) return false;
    this.hinted.add(key);
    return true;
  }

  private draw(): void {
    if (!this.region || !this.settle) return;
    this.region.update(progressFrame([...this.tickets.values()], this.details, Date.now()));
  }

  private open(): string[] {
    return [...this.tickets.values()].filter((t) => !isFinal(t)).map((t) => t.id);
  }

  private allFinal(): boolean {
    return this.open().length === 0;
  }
}
