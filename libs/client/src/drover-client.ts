import type {
  AnswerTaskInputBody,
  ApiKey,
  ArtifactList,
  CancelTaskResult,
  CancelTicketResult,
  CreateExperimentBody,
  CreateKeyBody,
  CreateProjectBody,
  CreateTicketBody,
  DecideTaskBody,
  EventToken,
  Experiment,
  ExperimentDeleted,
  ExperimentList,
  Health,
  IssuedKey,
  JsonOperationId,
  KeyList,
  ListExperimentsParams,
  ListTicketsParams,
  LogPage,
  Me,
  OperationId,
  Project,
  ProjectCreated,
  ProviderList,
  RerunTaskResult,
  RerunTicketResult,
  ResponseOf,
  RunLogsParams,
  RunnerList,
  Task,
  Ticket,
  TicketDeleted,
  TicketPage,
} from '@drover/contracts/api';
import { Transport, type DroverClientOptions, type RawContent } from './transport';

/** A ticket file uploaded as it is (multipart): a `.md` work order, a `.yaml`/`.yml` or `.json` ticket. */
export interface TicketFile {
  file: Blob;
  /** Its name, e.g. `fix-add.md`: its extension says what it is, and names a work order's task. */
  filename: string;
}

/** A Markdown work order (YAML front matter, the body is the prompt) or a YAML ticket, as text. */
export interface TicketDocument {
  document: string;
  format: 'markdown' | 'yaml';
}

/** What `createTicket` takes: a ticket as JSON, a file to upload, or a document's text. */
export type TicketSubmission = CreateTicketBody | TicketFile | TicketDocument;

/** What each operation's method resolves to: its JSON body, a raw body's content, or text. */
type ResultOf<K extends OperationId> = K extends JsonOperationId
  ? ResponseOf<K>
  : K extends 'getMetrics'
    ? string
    : RawContent;

/** One method per operation of the API, named by its operationId (checked: `implements`). */
type Operations = { [K in OperationId]: (...args: never[]) => Promise<ResultOf<K>> };

const isFile = (t: TicketSubmission): t is TicketFile => 'file' in t && t.file instanceof Blob;
const isDocument = (t: TicketSubmission): t is TicketDocument =>
  'document' in t && typeof t.document === 'string';
const DOCUMENT_TYPES = { markdown: 'text/markdown', yaml: 'application/yaml' } as const;

/**
 * A typed client of the Drover REST API, for Node (20+) and browsers: one
 * method per operation of the OpenAPI document, named by its `operationId`,
 * resolving to the body the API's contract (`@drover/contracts/api`) publishes
 * for it. Timestamps are ISO 8601 text, as sent. An error answer rejects with a
 * `DroverApiError` (status, code, message, details); no answer at all, with a
 * `DroverNetworkError`.
 *
 * ```ts
 * const drover = new DroverClient({ baseUrl: 'http://127.0.0.1:8080', apiKey: 'drv_...' });
 * const ticket = await drover.createTicket({ title: 'build', tasks: [{ key: 'lint', steps: [{ run: 'npm run lint' }] }] });
 * const now = await drover.getTicket(ticket.id);
 * ```
 */
export class DroverClient implements Operations {
  /** The gateway's URL, as given. */
  readonly baseUrl: string;
  private readonly transport: Transport;

  constructor(options: DroverClientOptions) {
    this.baseUrl = options.baseUrl;
    this.transport = new Transport(options);
  }

  // Tickets

  /**
   * Submits a ticket (`POST /tickets`): JSON (`tasks` with `depends_on`, or `phases`), a
   * file to upload (`{ file, filename }`) or a document's text (`{ document, format }`).
   * With `idempotencyKey`, submitting again returns the ticket the first submission
   * created (409 `IDEMPOTENCY_KEY_REUSED` if the body differs): safe to retry after a
   * `DroverNetworkError` or a 503. 422 names each bad field (with its line in a document).
   */
  createTicket(
    ticket: TicketSubmission,
    options: { idempotencyKey?: string } = {},
  ): Promise<Ticket> {
    const headers: Record<string, string> = options.idempotencyKey
      ? { 'idempotency-key': options.idempotencyKey }
      : {};
    if (isFile(ticket)) {
      const form = new FormData();
      form.append('file', ticket.file, ticket.filename);
      return this.transport.json('createTicket', { body: form, headers });
    }
    if (isDocument(ticket)) {
      const contentType = DOCUMENT_TYPES[ticket.format];
      return this.transport.json('createTicket', { body: ticket.document, contentType, headers });
    }
    return this.transport.json('createTicket', { body: ticket, headers });
  }

  /** The project's tickets, newest first (`GET /tickets`); `nextCursor` pages on. */
  listTickets(params: ListTicketsParams = {}): Promise<TicketPage> {
    return this.transport.json('listTickets', { query: { ...params } });
  }

  /** A ticket with its tasks, their status, waiting reason, approval and dependencies. */
  getTicket(id: string): Promise<Ticket> {
    return this.transport.json('getTicket', { params: { id } });
  }

  /** Cancels every open task of a ticket (running ones are stopped); 409 when already final. */
  cancelTicket(id: string): Promise<CancelTicketResult> {
    return this.transport.json('cancelTicket', { params: { id } });
  }

  /** Runs a final ticket's failed, timed out, cancelled and blocked tasks again, as new attempts. */
  rerunTicket(id: string): Promise<RerunTicketResult> {
    return this.transport.json('rerunTicket', { params: { id } });
  }

  /** Deletes a final ticket with its tasks, runs, logs, artifacts and events; 409 while open. */
  deleteTicket(id: string): Promise<TicketDeleted> {
    return this.transport.json('deleteTicket', { params: { id } });
  }

  // Tasks

  /** A task with its retry policy, input requests and every run (attempt). */
  getTask(id: string): Promise<Task> {
    return this.transport.json('getTask', { params: { id } });
  }

  /** Cancels one task (running: stopped); its dependents become BLOCKED. */
  cancelTask(id: string): Promise<CancelTaskResult> {
    return this.transport.json('cancelTask', { params: { id } });
  }

  /** Runs a final task that did not succeed again, with its dependents that did not succeed. */
  rerunTask(id: string): Promise<RerunTaskResult> {
    return this.transport.json('rerunTask', { params: { id } });
  }

  /** Approves a task waiting for approval (`AWAITING_APPROVAL`): it runs. The task now. */
  approveTask(id: string, decision: DecideTaskBody = {}): Promise<Task> {
    return this.transport.json('approveTask', { params: { id }, body: decision });
  }

  /** Rejects a task waiting for approval: it fails with the comment, its dependents are blocked. */
  rejectTask(id: string, decision: DecideTaskBody = {}): Promise<Task> {
    return this.transport.json('rejectTask', { params: { id }, body: decision });
  }

  /** Answers a task's open input request (`AWAITING_INPUT`) with `value`: it runs again with it. */
  answerTaskInput(id: string, answer: AnswerTaskInputBody): Promise<Task> {
    return this.transport.json('answerTaskInput', { params: { id }, body: answer });
  }

  // Runs

  /** A page of a run's log lines from line `after` (0-based); `nextAfter` reads on. */
  getRunLogs(runId: string, params: RunLogsParams = {}): Promise<LogPage> {
    return this.transport.json('getRunLogs', { params: { id: runId }, query: { ...params } });
  }

  /** A run's artifacts (its diff, iteration logs, result.json), by name. */
  listRunArtifacts(runId: string): Promise<ArtifactList> {
    return this.transport.json('listRunArtifacts', { params: { id: runId } });
  }

  /** One artifact's content, by a name from `listRunArtifacts`; to stream, or read as text. */
  getRunArtifact(runId: string, name: string): Promise<RawContent> {
    return this.transport.raw('getRunArtifact', { params: { id: runId, name } });
  }

  /** A run's diff against its starting commit (`text/x-diff`); 404 `NO_DIFF` before it has one. */
  getRunDiff(runId: string): Promise<RawContent> {
    return this.transport.raw('getRunDiff', { params: { id: runId } });
  }

  /** The shared runners and the project's own: slots, status, last heartbeat. */
  listRunners(): Promise<RunnerList> {
    return this.transport.json('listRunners');
  }

  /**
   * Each provider's concurrency limit (the scheduler's) against its tasks dispatched
   * or running: `running` of every project, `runningInProject` the caller's; 503
   * `SCHEDULER_UNAVAILABLE` when no scheduler answers.
   */
  listProviders(): Promise<ProviderList> {
    return this.transport.json('listProviders');
  }

  // Experiments

  /** Starts an experiment: every task run by every agent (x model), `n_trials` times. */
  createExperiment(experiment: CreateExperimentBody): Promise<Experiment> {
    return this.transport.json('createExperiment', { body: experiment });
  }

  /** The project's experiments, newest first. */
  listExperiments(params: ListExperimentsParams = {}): Promise<ExperimentList> {
    return this.transport.json('listExperiments', { query: { ...params } });
  }

  /** An experiment: its matrix (pass rate, cost, tokens per agent x model), verdicts, trials. */
  getExperiment(id: string): Promise<Experiment> {
    return this.transport.json('getExperiment', { params: { id } });
  }

  /** Deletes a finished experiment with its ticket, runs, logs and artifacts. */
  deleteExperiment(id: string): Promise<ExperimentDeleted> {
    return this.transport.json('deleteExperiment', { params: { id } });
  }

  // Projects and keys

  /** Creates a project and its first admin key, whose secret only this answer holds (operator admins). */
  createProject(project: CreateProjectBody): Promise<ProjectCreated> {
    return this.transport.json('createProject', { body: project });
  }

  /** The key's own project and its quotas (another project's id: 404). */
  getProject(id: string): Promise<Project> {
    return this.transport.json('getProject', { params: { id } });
  }

  /** Issues a key of the project (admins); `key`, its secret, is in this answer only. */
  createKey(projectId: string, key: CreateKeyBody): Promise<IssuedKey> {
    return this.transport.json('createKey', { params: { id: projectId }, body: key });
  }

  /** The project's keys, never their secrets, revoked ones too (admins). */
  listKeys(projectId: string): Promise<KeyList> {
    return this.transport.json('listKeys', { params: { id: projectId } });
  }

  /** Revokes a key of the project at once (admins); 409 when it already was. */
  revokeKey(keyId: string): Promise<ApiKey> {
    return this.transport.json('revokeKey', { params: { id: keyId } });
  }

  /** The calling key: its id, name, role, expiry and project. */
  getMe(): Promise<Me> {
    return this.transport.json('getMe');
  }

  // Events

  /**
   * A single-use token (short-lived) to open the event stream where no header can
   * be sent, as a browser's WebSocket: `new WebSocket(client.eventsUrl({ token }))`.
   */
  createEventToken(): Promise<EventToken> {
    return this.transport.json('createEventToken');
  }

  /**
   * The WebSocket URL of the event stream (`ws:` or `wss:`): one ticket's events
   * (`ticket`), from after sequence `since` (0: from the start; none: from now),
   * opened with a `token` from `createEventToken` or the key in a header.
   */
  eventsUrl(options: { ticket?: string; since?: number; token?: string } = {}): string {
    const here = (globalThis as { location?: { href: string } }).location?.href;
    const url = new URL(this.transport.url('/events', { ...options }), here);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return url.toString();
  }

  // Service

  /** The gateway's dependencies and the runners online; also resolves (not rejects) on 503. */
  getHealth(): Promise<Health> {
    return this.transport.json('getHealth');
  }

  /** The gateway's Prometheus metrics, as text. */
  async getMetrics(): Promise<string> {
    return (await this.transport.raw('getMetrics')).text();
  }
}
