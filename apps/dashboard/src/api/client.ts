// Every call the dashboard makes to the gateway, one small function each, through
// the session's DroverClient (@drover/client).
import type { RawContent } from '@drover/client';
import { call } from './http';
import type { ListTicketsQuery } from './types';

/** Who the session's key is; with `key`, checks that key instead (signing in). */
export const me = (key?: string) => call((api) => api.getMe(), key ? { key } : {});

export const listTickets = (q: ListTicketsQuery = {}, signal?: AbortSignal) =>
  call((api) => api.listTickets(q), { signal });

export const getTicket = (ticketId: string, signal?: AbortSignal) =>
  call((api) => api.getTicket(ticketId), { signal });

export const getTask = (taskId: string, signal?: AbortSignal) =>
  call((api) => api.getTask(taskId), { signal });

/** Log lines of a run from line `after` (0-based); `nextAfter` continues. */
export const getRunLogs = (runId: string, after = 0, signal?: AbortSignal, limit?: number) =>
  call((api) => api.getRunLogs(runId, { after, ...(limit === undefined ? {} : { limit }) }), {
    signal,
  });

export const listArtifacts = (runId: string, signal?: AbortSignal) =>
  call((api) => api.listRunArtifacts(runId), { signal }).then((page) => page.items);

/** Where an artifact's content is: it needs the key, so read it with `getArtifact`. */
export const artifactUrl = (runId: string, name: string) =>
  `/runs/${encodeURIComponent(runId)}/artifacts/${encodeURIComponent(name)}`;

const blobOf = async (content: RawContent) =>
  new Response(content.body, {
    headers: content.contentType ? { 'content-type': content.contentType } : {},
  }).blob();

export const getArtifact = (runId: string, name: string, signal?: AbortSignal) =>
  call(async (api) => blobOf(await api.getRunArtifact(runId, name)), { signal });

export const getArtifactText = (runId: string, name: string, signal?: AbortSignal) =>
  call(async (api) => (await api.getRunArtifact(runId, name)).text(), { signal });

/** The run's diff as a patch. */
export const getDiff = (runId: string, signal?: AbortSignal) =>
  call(async (api) => (await api.getRunDiff(runId)).text(), { signal });

export const cancelTicket = (ticketId: string) => call((api) => api.cancelTicket(ticketId));

export const rerunTicket = (ticketId: string) => call((api) => api.rerunTicket(ticketId));

export const cancelTask = (taskId: string) => call((api) => api.cancelTask(taskId));

export const rerunTask = (taskId: string) => call((api) => api.rerunTask(taskId));

export const approveTask = (taskId: string, comment?: string) =>
  call((api) => api.approveTask(taskId, comment ? { comment } : {}));

export const rejectTask = (taskId: string, comment?: string) =>
  call((api) => api.rejectTask(taskId, comment ? { comment } : {}));

/** Answers a task's request for input (`name`: the variable asked for, when several could be). */
export const answerInput = (taskId: string, value: string, name?: string) =>
  call((api) => api.answerTaskInput(taskId, name ? { name, value } : { value }));

export const listRunners = (signal?: AbortSignal) =>
  call((api) => api.listRunners(), { signal }).then((page) => page.items);

/** Each provider's tasks dispatched or running against its limit (503 when no scheduler answers). */
export const listProviders = (signal?: AbortSignal) =>
  call((api) => api.listProviders(), { signal }).then((page) => page.items);

export const listExperiments = (limit?: number, signal?: AbortSignal) =>
  call((api) => api.listExperiments(limit === undefined ? {} : { limit }), { signal }).then(
    (page) => page.items,
  );

export const getExperiment = (experimentId: string, signal?: AbortSignal) =>
  call((api) => api.getExperiment(experimentId), { signal });

/** A single-use token (valid about a minute) to open the event stream. */
export const createEventToken = () => call((api) => api.createEventToken());
