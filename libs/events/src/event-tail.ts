import { KickedLoop } from '@drover/util';
import type { EventLog, LoggedEvent } from './event-log';

/** A consumer of the live event stream. */
export interface TailSubscriber {
  /** Only this project's events (and fleet events, which have none); all when absent. */
  projectId?: string;
  /** Only events of this ticket; all when absent. */
  ticketId?: string;
  /**
   * Delivers one event. `false`: the consumer is full and did not take it; the
   * tail stops sending to it until `drained` resolves, then catches it up from
   * Postgres, so a slow consumer is held back, never skipped.
   */
  send(event: LoggedEvent): boolean | void;
  /** Resolves once a full consumer can take more: true; false when it never will (closed). */
  drained?(): Promise<boolean>;
  /** A catch-up after a pause failed (Postgres unreachable); the subscription has ended. */
  failed?(error: Error): void;
}

interface Subscription {
  subscriber: TailSubscriber;
  cursor: number;
  live: boolean;
  closed: boolean;
  /** What a full consumer did not take of the page in hand: sent first when it drains. */
  backlog: LoggedEvent[];
}

const PAGE = 1000;

/**
 * Fans the event log out to many subscribers with one query per tick, whatever
 * their number. A subscriber that joins with `since` is first caught up from
 * Postgres, then switched to live delivery at exactly the head it caught up to,
 * so it sees every event after `since` once, in sequence order.
 */
export class EventTail {
  private head = 0;
  private readonly subs = new Set<Subscription>();
  private readonly loop: KickedLoop;

  constructor(
    private readonly log: EventLog,
    pollMs: number,
  ) {
    this.loop = new KickedLoop(EventTail.name, () => this.poll(), pollMs);
  }

  async start(): Promise<void> {
    this.head = await this.log.head();
    this.loop.start();
  }

  /** New events may exist (a NATS notification arrived). */
  kick(): void {
    this.loop.kick();
  }

  currentHead(): number {
    return this.head;
  }

  /**
   * Subscribes from `since` (default: the current head, i.e. only new events).
   * Returns an unsubscribe function; resolves once caught up.
   */
  async subscribe(subscriber: TailSubscriber, since?: number): Promise<() => void> {
    const sub: Subscription = {
      subscriber,
      cursor: since ?? this.head,
      live: false,
      closed: false,
      backlog: [],
    };
    this.subs.add(sub);
    const unsubscribe = () => {
      sub.closed = true;
      this.subs.delete(sub);
    };
    await this.catchUp(sub);
    return unsubscribe;
  }

  /**
   * Delivers from Postgres up to the head, then switches the subscriber to live
   * delivery; while its consumer is full, waits for it to drain.
   */
  private async catchUp(sub: Subscription): Promise<void> {
    for (;;) {
      const backlog = sub.backlog;
      sub.backlog = [];
      let full = !this.deliverAll(sub, backlog);
      while (!sub.closed && !full && sub.cursor < this.head) {
        const until = this.head;
        const { events, cursor, scanned } = await this.log.readSince(sub.cursor, PAGE, until);
        full = !this.deliverAll(sub, events);
        // A short page means nothing more up to `until`.
        if (!full) sub.cursor = scanned < PAGE ? until : cursor;
      }
      if (sub.closed) return;
      if (!full) {
        // Synchronous from the check above: no poll can slip between catch-up and live.
        sub.live = true;
        return;
      }
      if (!(await sub.subscriber.drained?.())) return;
    }
  }

  /** Resumes a subscriber that was full, once its consumer has drained. */
  private resume(sub: Subscription): void {
    sub.live = false;
    void (async () => {
      try {
        if (await sub.subscriber.drained?.()) await this.catchUp(sub);
      } catch (error) {
        sub.closed = true;
        this.subs.delete(sub);
        sub.subscriber.failed?.(error as Error);
      }
    })();
  }

  /**
   * False when the consumer was full: `sub.cursor` is then the last event it
   * took, and what it did not take waits in `sub.backlog` (no page is read twice).
   */
  private deliverAll(sub: Subscription, events: LoggedEvent[]): boolean {
    for (let i = 0; i < events.length; i++) {
      if (!this.deliver(sub, events[i])) {
        sub.backlog = events.slice(i);
        return false;
      }
    }
    return true;
  }

  private deliver(sub: Subscription, event: LoggedEvent): boolean {
    if (sub.closed || event.seq <= sub.cursor) return true;
    const { projectId, ticketId } = sub.subscriber;
    const ofProject = !projectId || event.projectId === null || event.projectId === projectId;
    if (ofProject && (!ticketId || ticketId === event.ticketId)) {
      if (sub.subscriber.send(event) === false) return false;
    }
    sub.cursor = event.seq;
    return true;
  }

  private async poll(): Promise<boolean> {
    if (!this.subs.size) {
      // Nobody listens: only keep the head current (one index lookup). Someone who
      // subscribed meanwhile caught up to the old head, so the head must not jump.
      const head = await this.log.head();
      if (!this.subs.size) this.head = Math.max(this.head, head);
      return false;
    }
    const { events, cursor } = await this.log.readSince(this.head, PAGE);
    if (cursor <= this.head) return false;
    this.head = cursor;
    for (const sub of this.subs) {
      if (!sub.live) continue;
      if (!this.deliverAll(sub, events)) this.resume(sub);
      else if (sub.cursor < cursor) sub.cursor = cursor;
    }
    return true;
  }

  stop(): Promise<void> {
    for (const sub of this.subs) sub.closed = true;
    this.subs.clear();
    return this.loop.stop();
  }
}
