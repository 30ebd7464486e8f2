export * from './graph';
export * from './outbox-messages';
export * from './task-state';
export * from './use-cases/append-run-log';
export * from './use-cases/create-ticket';
export * from './use-cases/record-run-finished';
export * from './use-cases/record-run-started';
export * from './ticket-queries';
