// Every call the dashboard makes to the gateway, one small function each.
import { requestBlob, requestJson, requestText } from './http';
import type {
  Artifact,
  CancelResult,
  EventToken,
  Experiment,
  ExperimentSummary,
  ListTicketsQuery,
  LogPage,
  Me,
  ProviderLoad,
  RerunResult,
  Runner,
  Task,
  Ticket,
  TicketPage,
} from './types';

const id = (value: string) => encodeURIComponent(value);

/** Who the session's key is; with `key`, checks that key instead (signing in). */
export const me = (key?: string) => requestJson<Me>('GET', '/me', key ? { key } : {});

export const listTickets = (q: ListTicketsQuery = {}, signal?: AbortSignal) =>
  requestJson<TicketPage>('GET', '/tickets', { query: { ...q }, signal });

export const getTicket = (ticketId: string, signal?: AbortSignal) =>
  requestJson<Ticket>('GET', `/tickets/${id(ticketId)}`, { signal });

export const getTask = (taskId: string, signal?: AbortSignal) =>
  requestJson<Task>('GET', `/tasks/${id(taskId)}`, { signal });

/** Log lines of a run from line `after` (0-based); `nextAfter` continues. */
export const getRunLogs = (runId: string, after = 0, signal?: AbortSignal, limit?: number) =>
  requestJson<LogPage>('GET', `/runs/${id(runId)}/logs`, { query: { after, limit }, signal });

export const listArtifacts = (runId: string, signal?: AbortSignal) =>
  requestJson<{ items: Artifact[] }>('GET', `/runs/${id(runId)}/artifacts`, { signal }).then(
    (page) => page.items,
  );

/** Where an artifact's content is: it needs the key, so read it with `getArtifact`. */
export const artifactUrl = (runId: string, name: string) =>
  `/runs/${id(runId)}/artifacts/${id(name)}`;

export const getArtifact = (runId: string, name: string, signal?: AbortSignal) =>
  requestBlob(artifactUrl(runId, name), { signal });

export const getArtifactText = (runId: string, name: string, signal?: AbortSignal) =>
  requestText(artifactUrl(runId, name), { signal });

/** The run's diff as a patch. */
export const getDiff = (runId: string, signal?: AbortSignal) =>
  requestText(`/runs/${id(runId)}/diff`, { signal });

export const cancelTicket = (ticketId: string) =>
  requestJson<CancelResult>('POST', `/tickets/${id(ticketId)}/cancel`);

export const rerunTicket = (ticketId: string) =>
  requestJson<RerunResult>('POST', `/tickets/${id(ticketId)}/rerun`);

export const cancelTask = (taskId: string) =>
  requestJson<CancelResult>('POST', `/tasks/${id(taskId)}/cancel`);

export const rerunTask = (taskId: string) =>
  requestJson<RerunResult>('POST', `/tasks/${id(taskId)}/rerun`);

export const approveTask = (taskId: string, comment?: string) =>
  requestJson<Task>('POST', `/tasks/${id(taskId)}/approve`, {
    body: comment ? { comment } : {},
  });

export const rejectTask = (taskId: string, comment?: string) =>
  requestJson<Task>('POST', `/tasks/${id(taskId)}/reject`, { body: comment ? { comment } : {} });

/** Answers a task's request for input (`name`: the variable asked for, when several could be). */
export const answerInput = (taskId: string, value: string, name?: string) =>
  requestJson<Task>('POST', `/tasks/${id(taskId)}/input`, {
    body: name ? { name, value } : { value },
  });

export const listRunners = (signal?: AbortSignal) =>
  requestJson<{ items: Runner[] }>('GET', '/runners', { signal }).then((page) => page.items);

/** Each provider's tasks dispatched or running against its limit (503 when no scheduler answers). */
export const listProviders = (signal?: AbortSignal) =>
  requestJson<{ items: ProviderLoad[] }>('GET', '/providers', { signal }).then(
    (page) => page.items,
  );

export const listExperiments = (limit?: number, signal?: AbortSignal) =>
  requestJson<{ items: ExperimentSummary[] }>('GET', '/experiments', {
    query: { limit },
    signal,
  }).then((page) => page.items);

export const getExperiment = (experimentId: string, signal?: AbortSignal) =>
  requestJson<Experiment>('GET', `/experiments/${id(experimentId)}`, { signal });

/** A single-use token (valid about a minute) to open the event stream. */
export const createEventToken = () => requestJson<EventToken>('POST', '/events/token');
