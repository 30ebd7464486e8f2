export * from './event-log';
export * from './outbox';
export * from './outbox-relay';
export * from './event-tail';
