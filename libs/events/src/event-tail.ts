import { KickedLoop } from '@drover/util';
import type { EventLog, LoggedEvent } from './event-log';

/** A consumer of the live event stream. */
export interface TailSubscriber {
  /** Only this project's events (and fleet events, which have none); all when absent. */
  projectId?: string;
  /** Only events of this ticket; all when absent. */
  ticketId?: string;
  send(event: LoggedEvent): void;
}

interface Subscription {
  subscriber: TailSubscriber;
  cursor: number;
  live: boolean;
  closed: boolean;
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
    };
    this.subs.add(sub);
    const unsubscribe = () => {
      sub.closed = true;
      this.subs.delete(sub);
    };
    while (!sub.closed && sub.cursor < this.head) {
      const until = this.head;
      const { events, cursor, scanned } = await this.log.readSince(sub.cursor, PAGE, until);
      for (const event of events) this.deliver(sub, event);
      // A short page means nothing more up to `until`.
      sub.cursor = scanned < PAGE ? until : cursor;
    }
    // Synchronous from the check above: no poll can slip between catch-up and live.
    sub.live = true;
    return unsubscribe;
  }

  private deliver(sub: Subscription, event: LoggedEvent): void {
    if (sub.closed || event.seq <= sub.cursor) return;
    const { projectId, ticketId } = sub.subscriber;
    const ofProject = !projectId || event.projectId === null || event.projectId === projectId;
    if (ofProject && (!ticketId || ticketId === event.ticketId)) sub.subscriber.send(event);
    sub.cursor = event.seq;
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
      for (const event of events) this.deliver(sub, event);
      if (sub.cursor < cursor) sub.cursor = cursor;
    }
    return true;
  }

  stop(): Promise<void> {
    for (const sub of this.subs) sub.closed = true;
    this.subs.clear();
    return this.loop.stop();
  }
}
