import type { z } from 'zod';
import { Health } from './health';
import { EventToken, IssuedKey, KeyList, Me, Project, ProjectCreated, ApiKey } from './access';
import { Experiment, ExperimentDeleted, ExperimentList } from './experiments';
import { ArtifactList, LogPage, ProviderList, RunnerList } from './runs';
import {
  CancelTaskResult,
  CancelTicketResult,
  RerunTaskResult,
  RerunTicketResult,
  Task,
  Ticket,
  TicketDeleted,
  TicketPage,
} from './tickets';

/** A body that is not JSON: bytes to stream (an artifact, a diff) or text (metrics). */
export interface RawBody {
  readonly contentType: string;
  readonly read: 'stream' | 'text';
}

/** One route of the REST API: what it answers when it succeeds. */
export interface OperationContract {
  readonly method: 'GET' | 'POST' | 'DELETE';
  /** The path as OpenAPI writes it: `/tickets/{id}`. */
  readonly path: string;
  /** The status of success. */
  readonly status: 200 | 201;
  /** Its body: a published schema, or raw content. */
  readonly response: z.ZodType | RawBody;
  /** Other statuses answered with the same body, not the error body (GET /health: 503). */
  readonly alsoFor?: readonly number[];
}

/**
 * Every route of the REST API by its OpenAPI `operationId` (also the name of
 * its method on `DroverClient`). The gateway publishes each response schema
 * under its route and checks at start that this table and its routes agree;
 * every error (4xx, 5xx) answers the `Error` schema.
 */
export const API_OPERATIONS = {
  createTicket: { method: 'POST', path: '/tickets', status: 201, response: Ticket },
  listTickets: { method: 'GET', path: '/tickets', status: 200, response: TicketPage },
  getTicket: { method: 'GET', path: '/tickets/{id}', status: 200, response: Ticket },
  cancelTicket: {
    method: 'POST',
    path: '/tickets/{id}/cancel',
    status: 200,
    response: CancelTicketResult,
  },
  rerunTicket: {
    method: 'POST',
    path: '/tickets/{id}/rerun',
    status: 200,
    response: RerunTicketResult,
  },
  deleteTicket: { method: 'DELETE', path: '/tickets/{id}', status: 200, response: TicketDeleted },
  getTask: { method: 'GET', path: '/tasks/{id}', status: 200, response: Task },
  cancelTask: {
    method: 'POST',
    path: '/tasks/{id}/cancel',
    status: 200,
    response: CancelTaskResult,
  },
  rerunTask: { method: 'POST', path: '/tasks/{id}/rerun', status: 200, response: RerunTaskResult },
  approveTask: { method: 'POST', path: '/tasks/{id}/approve', status: 200, response: Task },
  rejectTask: { method: 'POST', path: '/tasks/{id}/reject', status: 200, response: Task },
  answerTaskInput: { method: 'POST', path: '/tasks/{id}/input', status: 200, response: Task },
  getRunLogs: { method: 'GET', path: '/runs/{id}/logs', status: 200, response: LogPage },
  listRunArtifacts: {
    method: 'GET',
    path: '/runs/{id}/artifacts',
    status: 200,
    response: ArtifactList,
  },
  getRunArtifact: {
    method: 'GET',
    path: '/runs/{id}/artifacts/{name}',
    status: 200,
    // The artifact's own type (result.json is application/json, a log text/plain ...).
    response: { contentType: '*/*', read: 'stream' },
  },
  getRunDiff: {
    method: 'GET',
    path: '/runs/{id}/diff',
    status: 200,
    response: { contentType: 'text/x-diff', read: 'stream' },
  },
  listRunners: { method: 'GET', path: '/runners', status: 200, response: RunnerList },
  listProviders: { method: 'GET', path: '/providers', status: 200, response: ProviderList },
  createExperiment: { method: 'POST', path: '/experiments', status: 201, response: Experiment },
  listExperiments: { method: 'GET', path: '/experiments', status: 200, response: ExperimentList },
  getExperiment: { method: 'GET', path: '/experiments/{id}', status: 200, response: Experiment },
  deleteExperiment: {
    method: 'DELETE',
    path: '/experiments/{id}',
    status: 200,
    response: ExperimentDeleted,
  },
  createProject: { method: 'POST', path: '/projects', status: 201, response: ProjectCreated },
  getProject: { method: 'GET', path: '/projects/{id}', status: 200, response: Project },
  createKey: { method: 'POST', path: '/projects/{id}/keys', status: 201, response: IssuedKey },
  listKeys: { method: 'GET', path: '/projects/{id}/keys', status: 200, response: KeyList },
  revokeKey: { method: 'DELETE', path: '/keys/{id}', status: 200, response: ApiKey },
  getMe: { method: 'GET', path: '/me', status: 200, response: Me },
  createEventToken: { method: 'POST', path: '/events/token', status: 201, response: EventToken },
  getHealth: { method: 'GET', path: '/health', status: 200, response: Health, alsoFor: [503] },
  getMetrics: {
    method: 'GET',
    path: '/metrics',
    status: 200,
    response: { contentType: 'text/plain', read: 'text' },
  },
} as const satisfies Record<string, OperationContract>;

export type OperationId = keyof typeof API_OPERATIONS;

type ResponseSchema<K extends OperationId> = (typeof API_OPERATIONS)[K]['response'];

/** The operations that answer JSON. */
export type JsonOperationId = {
  [K in OperationId]: ResponseSchema<K> extends z.ZodType ? K : never;
}[OperationId];

/** The JSON body operation `K` answers with, as clients read it (timestamps as ISO 8601 text). */
export type ResponseOf<K extends JsonOperationId> = z.input<ResponseSchema<K>>;

/**
 * What the gateway's handler of `K` returns: the body with timestamps as `Date`,
 * or nothing for a raw body (the handler writes it to the response itself).
 */
export type ServedOf<K extends OperationId> =
  ResponseSchema<K> extends z.ZodType ? z.output<ResponseSchema<K>> : void;

/** Whether a response is raw content rather than a JSON schema. */
export function isRawBody(response: z.ZodType | RawBody): response is RawBody {
  return 'read' in response && 'contentType' in response;
}
