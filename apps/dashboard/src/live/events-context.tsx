import {
  createContext,
  useContext,
  useEffect,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from 'react';
import { EventStream, forgetKey, type StreamState } from '../api';
import { EventHub } from './event-hub';

const HubContext = createContext<EventHub | null>(null);

/** Opens the session's event stream while mounted (signed in) and shares it. */
export function EventsProvider({ children }: { children: ReactNode }) {
  const [hub] = useState(() => new EventHub());
  useEffect(() => {
    const stream = new EventStream({
      onEvent: (event) => hub.emit(event),
      onState: (state) => hub.setState(state),
      onResync: () => hub.resync(),
      onWithdrawn: (message) =>
        forgetKey(`The event stream was closed: ${message}. Sign in again.`),
    });
    return () => stream.close();
  }, [hub]);
  return <HubContext.Provider value={hub}>{children}</HubContext.Provider>;
}

export function useEventHub(): EventHub {
  const hub = useContext(HubContext);
  if (!hub) throw new Error('useEventHub outside EventsProvider');
  return hub;
}

/** The stream's state, for the indicator. */
export function useStreamState(): StreamState {
  const hub = useEventHub();
  return useSyncExternalStore(
    (notify) => hub.onState(notify),
    () => hub.state,
  );
}
