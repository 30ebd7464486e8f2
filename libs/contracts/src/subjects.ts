/**
 * Every NATS subject Drover uses. Wire names never change: a breaking change to a
 * payload is a new version (`.v2`) published beside the old one until every
 * consumer has moved.
 *
 * Events are `drover.<domain>.<entity>.<event>.v<N>` (past tense); request/reply
 * commands are `drover.<domain>.<entity>.<verb>.v<N>`.
 */
export const Subjects = {
  /** gateway -> orchestrator (request/reply): write a validated ticket. */
  ticketCreate: 'drover.orchestrator.ticket.create.v1',
  /** outbox: a ticket's status changed. */
  ticketChanged: 'drover.orchestrator.ticket.changed.v1',
  /** outbox: a task's status changed. */
  taskChanged: 'drover.orchestrator.task.changed.v1',
  /** outbox (scheduler): why no runner can take a task appeared, changed or ended. */
  taskWaitingChanged: 'drover.scheduler.task.waiting-changed.v1',
  /**
   * outbox -> runners (JetStream work queue): a run was leased and must be executed.
   * The shared pool's work; a project's own pool takes it on `workSubject(projectId)`.
   */
  runDispatched: 'drover.scheduler.run.dispatched.v1',
  /** outbox: a run's status changed. */
  runChanged: 'drover.orchestrator.run.changed.v1',
  /** gateway -> orchestrator (request/reply): write an experiment (a sweep) and its ticket. */
  experimentCreate: 'drover.orchestrator.experiment.create.v1',
  /** gateway -> orchestrator (request/reply): delete a final ticket and what it holds. */
  ticketDelete: 'drover.orchestrator.ticket.delete.v1',
  /** gateway -> orchestrator (request/reply): cancel a ticket or a task. */
  cancel: 'drover.orchestrator.work.cancel.v1',
  /** gateway -> orchestrator (request/reply): run a final ticket's or task's failures again. */
  rerun: 'drover.orchestrator.work.rerun.v1',
  /** gateway -> orchestrator (request/reply): approve or reject a task waiting for approval. */
  taskCommand: 'drover.orchestrator.task.command.v1',
  /** gateway -> scheduler (request/reply): the per-provider concurrency limits it enforces. */
  describeLimits: 'drover.scheduler.limits.describe.v1',
  /** runner -> orchestrator (request/reply): start a leased run (fenced on its lease token). */
  runStart: 'drover.orchestrator.run.start.v1',
  /** outbox -> runners: the control plane ended a run; its runner must stop it. */
  runStopRequested: 'drover.orchestrator.run.stop-requested.v1',
  /** runner -> orchestrator (JetStream): a run ended. */
  runFinished: 'drover.runner.run.finished.v1',
  /** runner -> orchestrator (JetStream): a batch of output lines. */
  runLogAppended: 'drover.runner.run.log-appended.v1',
  /** runner -> orchestrator (JetStream): an artifact of a run was stored. */
  runArtifactStored: 'drover.runner.run.artifact-stored.v1',
  /** runner -> health-monitor (request/reply): a runner joins the fleet. */
  runnerRegister: 'drover.registry.runner.register.v1',
  /** runner -> health-monitor (request/reply): a runner leaves the fleet cleanly. */
  runnerDeregister: 'drover.registry.runner.deregister.v1',
  /** runner -> health-monitor (request/reply, high rate): alive; renews its runs' leases. */
  runnerHeartbeat: 'drover.runner.runner.heartbeat.v1',
  /** outbox: a runner's status changed (ONLINE, STALE, OFFLINE). */
  runnerChanged: 'drover.registry.runner.changed.v1',
  /** outbox: log lines were stored (announced so the WebSocket stream can show them). */
  logAppended: 'drover.orchestrator.log.appended.v1',
  /** outbox: an artifact of a run (its diff, an iteration's log, result.json) was recorded. */
  artifactStored: 'drover.orchestrator.artifact.stored.v1',
} as const;

export type Subject = (typeof Subjects)[keyof typeof Subjects];

/** The token after the version of a work subject that names a project's own runner pool. */
const POOL_TOKEN = 'pool';

/**
 * The subject a pool's work travels on: `null` is the shared pool
 * (`Subjects.runDispatched`), a project id that project's own pool
 * (`<runDispatched>.pool.<projectId>`). The routing tokens follow the version, so
 * the message's type and version stay those of `runDispatched`.
 */
export function workSubject(pool: string | null): string {
  return pool === null ? Subjects.runDispatched : `${Subjects.runDispatched}.${POOL_TOKEN}.${pool}`;
}

/**
 * A subject as a template, for span names: a project pool's work subject names
 * its project, which becomes `{project}`; every other subject is its own template.
 */
export function subjectTemplate(subject: string): string {
  const pool = `${Subjects.runDispatched}.${POOL_TOKEN}.`;
  return subject.startsWith(pool) ? `${pool}{project}` : subject;
}

/** JetStream streams. Names are prefixed per environment by the messaging lib. */
export const Streams = {
  /**
   * Work for runners, each message taken by one runner: the shared pool's on
   * `runDispatched`, each project's own pool's on `workSubject(projectId)`. Every
   * pool has its own consumer, filtered on its subject (a work queue refuses
   * consumers whose filters overlap).
   */
  work: {
    name: 'DROVER_WORK',
    subjects: [Subjects.runDispatched, `${Subjects.runDispatched}.${POOL_TOKEN}.*`],
  },
  /** Reports from runners to the orchestrator. */
  reports: {
    name: 'DROVER_REPORTS',
    subjects: [Subjects.runFinished, Subjects.runLogAppended, Subjects.runArtifactStored],
  },
  /** Committed state changes, relayed from the outbox. */
  events: {
    name: 'DROVER_EVENTS',
    subjects: [
      Subjects.ticketChanged,
      Subjects.taskChanged,
      Subjects.taskWaitingChanged,
      Subjects.runChanged,
      Subjects.runnerChanged,
      Subjects.logAppended,
      Subjects.artifactStored,
      Subjects.runStopRequested,
    ],
  },
} as const;

export type StreamName = keyof typeof Streams;

/**
 * Durable JetStream consumer names. The shared runners' consumer filters on
 * `Subjects.runDispatched`; it replaced an unfiltered one named `runners`, which
 * the first new runner removes (the work queue refuses the two together).
 */
export const Consumers = {
  sharedRunners: 'runners-shared',
  orchestratorReports: 'orchestrator-reports',
  schedulerEvents: 'scheduler-events',
} as const;

/** The durable consumer of a pool's runners: shared (`null`) or a project's own. */
export function runnerConsumer(pool: string | null): string {
  return pool === null ? Consumers.sharedRunners : `runners-pool-${pool}`;
}

/** BullMQ queues (Redis). Names are prefixed per environment by the timers lib. */
export const Queues = {
  /** Delayed jobs: retry backoff ends, run deadlines. */
  timers: 'drover-timers',
} as const;
