import type { StreamEvent } from '../api';
import { EventHub } from './event-hub';

const event = (seq: number) =>
  ({
    seq,
    type: 'ticket.changed',
    ticketId: 't',
    data: { ticketId: 't', status: 'RUNNING' },
  }) as unknown as StreamEvent;

describe(EventHub.name, () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('hands a burst to each listener as one batch, in order, once', () => {
    const hub = new EventHub();
    const batches: number[][] = [];
    hub.subscribe((events) => batches.push(events.map((e) => e.seq)));
    for (let seq = 1; seq <= 2000; seq++) hub.emit(event(seq));
    expect(batches).toEqual([]);
    hub.flush();
    expect(batches).toHaveLength(1);
    expect(batches[0]).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
    hub.flush();
    expect(batches).toHaveLength(1);
    expect(hub.deliveredCount).toBe(2000);
  });

  it('delivers by timer when no frame comes (a hidden tab, or no window)', () => {
    const hub = new EventHub();
    const seen: number[] = [];
    hub.subscribe((events) => seen.push(...events.map((e) => e.seq)));
    hub.emit(event(1));
    hub.emit(event(2));
    jest.advanceTimersByTime(99);
    expect(seen).toEqual([]);
    jest.advanceTimersByTime(1);
    expect(seen).toEqual([1, 2]);
    hub.emit(event(3));
    jest.advanceTimersByTime(100);
    expect(seen).toEqual([1, 2, 3]);
  });

  it('stops handing events to a listener that unsubscribed', () => {
    const hub = new EventHub();
    const seen: number[] = [];
    const unsubscribe = hub.subscribe((events) => seen.push(...events.map((e) => e.seq)));
    hub.emit(event(1));
    hub.flush();
    unsubscribe();
    hub.emit(event(2));
    hub.flush();
    expect(seen).toEqual([1]);
  });
});
