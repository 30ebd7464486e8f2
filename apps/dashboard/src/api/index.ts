// The dashboard's only way to the gateway: REST calls, the event stream and the key.
export * from './client';
export { EventStream, reconnectDelay, type StreamEvent, type StreamState } from './event-stream';
export { ApiError, KEY_REFUSED } from './http';
export { currentKey, forgetKey, keepKey, onSessionChange } from './session';
export type * from './types';
