import type { StreamEvent, StreamState } from '../api';

type Listener<T> = (value: T) => void;

/**
 * Fans the one event stream of a session out to the pages that listen, and
 * keeps its state for the indicator in the header.
 */
export class EventHub {
  private readonly listeners = new Set<Listener<StreamEvent>>();
  private readonly resyncs = new Set<() => void>();
  private readonly stateListeners = new Set<() => void>();
  private current: StreamState = 'connecting';

  emit(event: StreamEvent): void {
    for (const listener of this.listeners) listener(event);
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

  /** Every event from now on; returns the unsubscribe function. */
  subscribe(listener: Listener<StreamEvent>): () => void {
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
