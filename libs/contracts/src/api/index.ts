// The REST API's responses, for the gateway and its clients (the CLI, the
// dashboard). Browser-safe: this entry point (`@drover/contracts/api`) loads
// nothing but zod and plain schemas; never a node: module.
export * from './access';
export * from './common';
export * from './experiments';
export * from './health';
export * from './operations';
export * from './queries';
export * from './requests';
export * from './runs';
export * from './schema-registry';
export * from './tickets';
export * from './wire';
export { ErrorBody, ErrorDetail } from '../error-body';
export { TaskBlocked, TaskLeft } from '../task-changes';
export { LogLine, LogStream, ArtifactKind } from '../run-outputs';
export { Waiting, WaitingReason } from '../waiting';
export {
  ErrorClass,
  OnFailure,
  RunnerStatus,
  RunStatus,
  TaskStatus,
  TERMINAL_TASK_STATUSES,
  TicketStatus,
} from '../domain';
export { KeyRole } from '../key-roles';
export {
  ArtifactStored,
  LogAppended,
  PublicEvents,
  RunChanged,
  RunnerChanged,
  TaskChanged,
  TaskWaitingChanged,
  TicketChanged,
  type PublicEventData,
  type PublicEventType,
  type StreamEvent,
} from '../events';
