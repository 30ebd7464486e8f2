// What the OpenAPI document does not say about each operation: where its path
// parameters come from, which query values and bodies are valid, and what a valid
// request gets. Every request is the suite key's: an admin of the operator project.
//
//   operation                        an id of ours                     another project's id, a random UUID
//   POST /tickets                    201; naming another project: 403
//   POST /experiments                201
//   GET  /experiments                200
//   GET  /experiments/{id}           200                               404
//   DELETE /experiments/{id}         409 (ours never end)              404
//   GET  /tickets                    200
//   GET  /tickets/{id}               200                               404
//   DELETE /tickets/{id}             200 for a spare (cancelled) one,  404
//                                    404 once deleted
//   POST /tickets/{id}/cancel        200, or 409 once it is final      404
//   POST /tickets/{id}/rerun         200 for a cancelled one (it        404
//                                    reopens; nothing runs it), else 409
//   GET  /tasks/{id}                 200                               404
//   POST /tasks/{id}/cancel          200, or 409 once it is final      404
//   POST /tasks/{id}/rerun           200 for a cancelled one, else 409 404
//   POST /tasks/{id}/approve|reject  409 (no task of ours waits for     404
//   POST /tasks/{id}/input           approval or input)
//   GET  /runs/{id}/logs             200                               404
//   GET  /runs/{id}/artifacts        200                               404
//   GET  /runs/{id}/artifacts/{name} 200 for a name it recorded,       404, even for a name
//                                    404 for a valid name it did not   that run recorded
//   GET  /runs/{id}/diff             200 for the run with a diff,      404
//                                    404 (NO_DIFF) for the others
//   GET  /runners, /providers, /me,  200 (/providers: 503 if no
//        /health                     scheduler answers; the suite runs one)
//   GET  /metrics                    200
//   POST /projects                   201 for a new slug, 409 for a taken one
//   GET  /projects/{id}(/keys)       200                               404
//   POST /projects/{id}/keys         201                               404
//   DELETE /keys/{id}                200, 409 once revoked (spare      404
//                                    keys only: never the suite's)
//   POST /events/token               201
import fc from 'fast-check';
import { TicketStatus } from '@drover/contracts';
import { keyBody, projectBody } from './access-bodies';
import { SWEEP } from './seed';
import type { Operation } from './openapi';
import { valid, type Expect, type InputClass, type Json } from './types';

type Artifact = { run: string; name: string };

/** Ids and names the seed produced: the suite's own, and other projects' (`foreign`). */
export interface Pools {
  tickets: string[];
  /** Final tickets of ours no other rule reads: DELETE may remove them. */
  spareTickets: string[];
  /** Experiments of ours; they never end (nothing runs them). */
  experiments: string[];
  tasks: string[];
  runs: string[];
  artifacts: Artifact[];
  /** Runs that stored a diff.patch. */
  diffRuns: string[];
  /** A `nextCursor` GET /tickets issued. */
  cursor: string;
  /** The suite key's project (the operator project). */
  project: string;
  /** Keys of the suite's project that may be revoked (never the suite's own). */
  keys: string[];
  /** Objects of projects A and B: every read or change of them must be answered 404. */
  foreign: {
    tickets: string[];
    experiments: string[];
    tasks: string[];
    runs: string[];
    artifacts: Artifact[];
    projects: string[];
    slugs: string[];
    keys: string[];
  };
}

/** A path (with its query), a JSON body if any, and the answer it must get. */
export interface ValidRequest {
  path: string;
  what: string;
  expect: Expect;
  body?: Json;
  /** `valid` unless said: `foreign-id` for another project's object. */
  cls?: InputClass;
}

export interface EndpointRule {
  /** Valid requests: the document's path with real or random ids, valid query values and bodies. */
  valid(pools: Pools, op: Operation): fc.Arbitrary<ValidRequest>;
  /** Query parameters the operation declares, one valid value each (for injections). */
  query?: Record<string, string>;
}

const MAX_PAGE = 500;
const MAX_LOG_PAGE = MAX_PAGE * 10;
const MAX_LINE = 2 ** 31 - 1;

/** A query string from optional parameters (`?a=1&b=2`, or nothing). */
function queryOf(params: Record<string, string | number | undefined>): string {
  const parts = Object.entries(params)
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

type IdPool = 'tickets' | 'spareTickets' | 'experiments' | 'tasks' | 'runs' | 'projects' | 'keys';

/** The pool's ids of ours, and of other projects. */
function idsOf(pools: Pools, pool: IdPool): { ours: string[]; theirs: string[] } {
  if (pool === 'projects') return { ours: [pools.project], theirs: pools.foreign.projects };
  if (pool === 'spareTickets') return { ours: pools.spareTickets, theirs: pools.foreign.tickets };
  return { ours: pools[pool], theirs: pools.foreign[pool] };
}

type Whose = 'ours' | 'theirs' | 'random';

/** An id of ours, another project's or a random UUID, with what it is and the class it makes. */
function anyId(pools: Pools, pool: IdPool) {
  const { ours, theirs } = idsOf(pools, pool);
  const one = { keys: 'key', spareTickets: 'spare ticket' }[pool as string] ?? pool.slice(0, -1);
  return fc
    .oneof(
      { weight: 4, arbitrary: fc.constantFrom(...ours) },
      { weight: 2, arbitrary: fc.constantFrom(...theirs) },
      { weight: 1, arbitrary: fc.uuid() },
    )
    .map((id) => {
      const whose: Whose = ours.includes(id) ? 'ours' : theirs.includes(id) ? 'theirs' : 'random';
      const what: string = {
        ours: `a ${one} of ours`,
        theirs: `another project's ${one}`,
        random: 'a random UUID',
      }[whose];
      const cls: InputClass = whose === 'theirs' ? 'foreign-id' : 'valid';
      return { id, whose, what, cls };
    });
}

/** `template` with `{id}` from the pool (ours: `known`) or another project's or random (404). */
function byId(
  template: string,
  pool: IdPool,
  known: number[],
  query: fc.Arbitrary<string> = fc.constant(''),
) {
  return (pools: Pools): fc.Arbitrary<ValidRequest> =>
    fc.tuple(anyId(pools, pool), query).map(([{ id, whose, what, cls }, q]) => ({
      path: template.replace('{id}', id) + q,
      what: `${what}${q}`,
      expect: valid(...(whose === 'ours' ? known : [404])),
      cls,
    }));
}

/** The requests of `rule`, each with `body`. */
function withBody(rule: (pools: Pools) => fc.Arbitrary<ValidRequest>, body: Json) {
  return (pools: Pools) => rule(pools).map((request) => ({ ...request, body }));
}

const plain = (path: string, status: number) => (): fc.Arbitrary<ValidRequest> =>
  fc.constant({ path, what: 'as documented', expect: valid(status) });

const ticketsQuery = (pools: Pools) =>
  fc
    .record(
      {
        status: fc.constantFrom(...TicketStatus.options),
        limit: fc.integer({ min: 1, max: MAX_PAGE }),
        cursor: fc.constant(pools.cursor),
      },
      { requiredKeys: [] },
    )
    .map(queryOf);

const logsQuery = fc
  .record(
    {
      after: fc.oneof(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: MAX_LINE })),
      limit: fc.integer({ min: 1, max: MAX_LOG_PAGE }),
    },
    { requiredKeys: [] },
  )
  .map(queryOf);

function artifact(pools: Pools): fc.Arbitrary<ValidRequest> {
  const recorded = fc.constantFrom(...pools.artifacts).map(({ run, name }) => ({
    path: `/runs/${run}/artifacts/${name}`,
    what: `recorded ${name}`,
    expect: valid(200),
  }));
  const theirs = fc.constantFrom(...pools.foreign.artifacts).map(({ run, name }) => ({
    path: `/runs/${run}/artifacts/${name}`,
    what: `${name}, recorded by another project's run`,
    expect: valid(404),
    cls: 'foreign-id' as const,
  }));
  const other = fc
    .tuple(
      fc.oneof(fc.constantFrom(...pools.runs), fc.uuid()),
      fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,40}$/),
    )
    .filter(([run, name]) => !pools.artifacts.some((a) => a.run === run && a.name === name))
    .map(([run, name]) => ({
      path: `/runs/${run}/artifacts/${name}`,
      what: 'a valid name not recorded',
      expect: valid(404),
    }));
  return fc.oneof(recorded, theirs, other);
}

function diff(pools: Pools): fc.Arbitrary<ValidRequest> {
  return anyId(pools, 'runs').map(({ id, whose, cls }) => {
    const withDiff = whose === 'ours' && pools.diffRuns.includes(id);
    const what: Record<Whose, string> = {
      ours: withDiff ? 'the run with a diff' : 'a run without one',
      theirs: "another project's run",
      random: 'a random UUID',
    };
    return {
      path: `/runs/${id}/diff`,
      what: what[whose],
      expect: valid(withDiff ? 200 : 404),
      cls,
    };
  });
}

/** A new project (201), or one whose slug is taken (409); random slugs may repeat. */
function newProject(pools: Pools, op: Operation): fc.Arbitrary<ValidRequest> {
  const taken = ['default', ...pools.foreign.slugs];
  return fc
    .tuple(projectBody(op), fc.option(fc.constantFrom(...taken), { freq: 5 }))
    .map(([body, slug]) => ({
      path: '/projects',
      what: slug ? `slug ${slug} (taken)` : 'a new project',
      body: slug ? { ...body, slug } : body,
      expect: slug ? valid(409) : valid(201, 409),
    }));
}

function newKey(pools: Pools, op: Operation): fc.Arbitrary<ValidRequest> {
  return fc
    .tuple(anyId(pools, 'projects'), keyBody(op))
    .map(([{ id, whose, what, cls }, body]) => ({
      path: `/projects/${id}/keys`,
      what: `${what}: a ${JSON.stringify(body.role)} key${body.expires_at ? ' that expires' : ''}`,
      body,
      expect: valid(whose === 'ours' ? 201 : 404),
      cls,
    }));
}

/** By operation key; an operation of the document with no rule stops the suite. */
export const RULES: Record<string, EndpointRule> = {
  'POST /tickets': { valid: plain('/tickets', 201) },
  'POST /experiments': { valid: withBody(plain('/experiments', 201), SWEEP) },
  'GET /experiments': { valid: plain('/experiments', 200), query: { limit: '10' } },
  'GET /experiments/{id}': { valid: byId('/experiments/{id}', 'experiments', [200]) },
  // Ours never end, so deleting them is refused.
  'DELETE /experiments/{id}': { valid: byId('/experiments/{id}', 'experiments', [409]) },
  'GET /tickets': {
    valid: (pools) =>
      ticketsQuery(pools).map((q) => ({
        path: `/tickets${q}`,
        what: q || 'no query',
        expect: valid(200),
      })),
    query: { status: 'PENDING', limit: '10', cursor: '' },
  },
  'GET /tickets/{id}': { valid: byId('/tickets/{id}', 'tickets', [200]) },
  // A spare ticket is deleted by the first request that picks it; 404 after.
  'DELETE /tickets/{id}': { valid: byId('/tickets/{id}', 'spareTickets', [200, 404]) },
  'POST /tickets/{id}/cancel': { valid: byId('/tickets/{id}/cancel', 'tickets', [200, 409]) },
  'POST /tickets/{id}/rerun': { valid: byId('/tickets/{id}/rerun', 'tickets', [200, 409]) },
  'GET /tasks/{id}': { valid: byId('/tasks/{id}', 'tasks', [200]) },
  'POST /tasks/{id}/cancel': { valid: byId('/tasks/{id}/cancel', 'tasks', [200, 409]) },
  'POST /tasks/{id}/rerun': { valid: byId('/tasks/{id}/rerun', 'tasks', [200, 409]) },
  'POST /tasks/{id}/approve': { valid: byId('/tasks/{id}/approve', 'tasks', [409]) },
  'POST /tasks/{id}/reject': {
    valid: withBody(byId('/tasks/{id}/reject', 'tasks', [409]), { comment: 'not now' }),
  },
  'POST /tasks/{id}/input': {
    valid: withBody(byId('/tasks/{id}/input', 'tasks', [409]), { value: 'an answer' }),
  },
  'GET /runs/{id}/logs': {
    valid: byId('/runs/{id}/logs', 'runs', [200], logsQuery),
    query: { after: '0', limit: '10' },
  },
  'GET /runs/{id}/artifacts': { valid: byId('/runs/{id}/artifacts', 'runs', [200]) },
  'GET /runs/{id}/artifacts/{name}': { valid: artifact },
  'GET /runs/{id}/diff': { valid: diff },
  'GET /runners': { valid: plain('/runners', 200) },
  'GET /providers': { valid: plain('/providers', 200) },
  'GET /me': { valid: plain('/me', 200) },
  'GET /health': { valid: plain('/health', 200) },
  'GET /metrics': { valid: plain('/metrics', 200) },
  'POST /projects': { valid: newProject },
  'GET /projects/{id}': { valid: byId('/projects/{id}', 'projects', [200]) },
  'POST /projects/{id}/keys': { valid: newKey },
  'GET /projects/{id}/keys': { valid: byId('/projects/{id}/keys', 'projects', [200]) },
  'DELETE /keys/{id}': { valid: byId('/keys/{id}', 'keys', [200, 409]) },
  'POST /events/token': { valid: plain('/events/token', 201) },
};

/** `template` with every parameter filled with something valid of ours from the pools. */
export function fillPath(template: string, pools: Pools): string {
  const first: [string, string][] = [
    ['/tasks', pools.tasks[0]],
    ['/runs', pools.runs[0]],
    ['/projects', pools.project],
    ['/keys', pools.keys[0]],
    ['/experiments', pools.experiments[0]],
    ['/tickets', pools.tickets[0]],
  ];
  const run = pools.artifacts[0];
  const id = template.includes('{name}')
    ? run.run
    : (first.find(([prefix]) => template.startsWith(prefix))?.[1] ?? '');
  return template.replace('{id}', id).replace('{name}', run.name);
}
