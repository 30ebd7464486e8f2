import type { StreamEvent, StreamState } from '../api';

type Listener<T> = (value: T) => void;

/** The longest events wait for a frame (a hidden tab draws none: they go by timer). */
const MAX_WAIT_MS = 100;

/**
 * Fans the one event stream of a session out to the pages that listen, and
 * keeps its state for the indicator in the header. Events are handed out in
 * batches, once per animation frame: a burst of thousands a second costs a page
 * one update per frame, not one per event, and the stream's reader does no more
 * than queue them.
 */
export class EventHub {
  private readonly listeners = new Set<Listener<readonly StreamEvent[]>>();
  private readonly resyncs = new Set<() => void>();
  private readonly stateListeners = new Set<() => void>();
  private current: StreamState = 'connecting';
  private queue: StreamEvent[] = [];
  private frame: number | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private delivered = 0;

  emit(event: StreamEvent): void {
    this.queue.push(event);
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flush(), MAX_WAIT_MS);
    if (typeof requestAnimationFrame === 'function') {
      this.frame = requestAnimationFrame(() => this.flush());
    }
  }

  /** Hands every queued event to every listener now, in order. */
  flush(): void {
    clearTimeout(this.timer);
    if (this.frame !== undefined) cancelAnimationFrame(this.frame);
    this.timer = undefined;
    this.frame = undefined;
    const batch = this.queue;
    if (!batch.length) return;
    this.queue = [];
    this.delivered += batch.length;
    for (const listener of this.listeners) listener(batch);
  }

  /** Events handed to listeners so far (for the page's own figures). */
  get deliveredCount(): number {
    return this.delivered;
  }

  resync(): void {
    for (const listener of this.resyncs) listener();
  }

  setState(state: StreamState): void {
    this.current = state;
    for (const listener of this.stateListeners) listener();
  }

  get state(): StreamState {
    return this.current;
  }

  /** Every event from now on, in batches in sequence order; returns the unsubscribe function. */
  subscribe(listener: Listener<readonly StreamEvent[]>): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Called when the stream may have missed events (see `StreamHandlers.onResync`). */
  onResync(listener: () => void): () => void {
    this.resyncs.add(listener);
    return () => this.resyncs.delete(listener);
  }

  onState(listener: () => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }
}
