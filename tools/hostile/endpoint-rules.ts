// What the OpenAPI document does not say about each operation: where its path
// parameters come from, which query values are valid, and what a valid request gets.
//
//   operation                        valid request on an id of ours   on a random UUID
//   POST /tickets                    201 (project "default"; another slug: 422 UNKNOWN_PROJECT)
//   GET  /tickets                    200
//   GET  /tickets/{id}               200                               404
//   POST /tickets/{id}/cancel        200, or 409 once it is final      404
//   GET  /tasks/{id}                 200                               404
//   POST /tasks/{id}/cancel          200, or 409 once it is final      404
//   GET  /runs/{id}/logs             200                               404
//   GET  /runs/{id}/artifacts        200                               404
//   GET  /runs/{id}/artifacts/{name} 200 for a name it recorded,       404
//                                    404 for a valid name it did not
//   GET  /runs/{id}/diff             200 for the run with a diff,      404
//                                    404 (NO_DIFF) for the others
//   GET  /runners, GET /health       200
import fc from 'fast-check';
import { TicketStatus } from '@drover/contracts';
import { valid, type Expect } from './types';

/** Ids and names the seed ticket produced (the suite's own data). */
export interface Pools {
  tickets: string[];
  tasks: string[];
  runs: string[];
  artifacts: { run: string; name: string }[];
  /** Runs that stored a diff.patch. */
  diffRuns: string[];
  /** A `nextCursor` GET /tickets issued. */
  cursor: string;
}

/** A path (with its query) and the answer it must get. */
export interface ValidRequest {
  path: string;
  what: string;
  expect: Expect;
}

export interface EndpointRule {
  /** Valid requests: the document's path with real or random ids, valid query values. */
  valid(pools: Pools): fc.Arbitrary<ValidRequest>;
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

type IdPool = 'tickets' | 'tasks' | 'runs';

/** `template` with `{id}` from the pool (expecting `known`) or a random UUID (expecting `unknown`). */
function byId(
  template: string,
  pool: IdPool,
  known: number[],
  unknown: number[],
  query: fc.Arbitrary<string> = fc.constant(''),
) {
  return (pools: Pools): fc.Arbitrary<ValidRequest> =>
    fc.tuple(fc.oneof(fc.constantFrom(...pools[pool]), fc.uuid()), query).map(([id, q]) => {
      const ours = pools[pool].includes(id);
      return {
        path: template.replace('{id}', id) + q,
        what: `${ours ? `a ${pool.slice(0, -1)} of ours` : 'a random UUID'}${q}`,
        expect: valid(...(ours ? known : unknown)),
      };
    });
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
  return fc.oneof(recorded, other);
}

function diff(pools: Pools): fc.Arbitrary<ValidRequest> {
  return fc.oneof(fc.constantFrom(...pools.runs), fc.uuid()).map((run) => ({
    path: `/runs/${run}/diff`,
    what: pools.diffRuns.includes(run) ? 'the run with a diff' : 'a run without one',
    expect: valid(pools.diffRuns.includes(run) ? 200 : 404),
  }));
}

/** By operation key; an operation of the document with no rule stops the suite. */
export const RULES: Record<string, EndpointRule> = {
  'POST /tickets': { valid: plain('/tickets', 201) },
  'GET /tickets': {
    valid: (pools) =>
      ticketsQuery(pools).map((q) => ({
        path: `/tickets${q}`,
        what: q || 'no query',
        expect: valid(200),
      })),
    query: { status: 'PENDING', limit: '10', cursor: '' },
  },
  'GET /tickets/{id}': { valid: byId('/tickets/{id}', 'tickets', [200], [404]) },
  'POST /tickets/{id}/cancel': {
    valid: byId('/tickets/{id}/cancel', 'tickets', [200, 409], [404]),
  },
  'GET /tasks/{id}': { valid: byId('/tasks/{id}', 'tasks', [200], [404]) },
  'POST /tasks/{id}/cancel': { valid: byId('/tasks/{id}/cancel', 'tasks', [200, 409], [404]) },
  'GET /runs/{id}/logs': {
    valid: byId('/runs/{id}/logs', 'runs', [200], [404], logsQuery),
    query: { after: '0', limit: '10' },
  },
  'GET /runs/{id}/artifacts': { valid: byId('/runs/{id}/artifacts', 'runs', [200], [404]) },
  'GET /runs/{id}/artifacts/{name}': { valid: artifact },
  'GET /runs/{id}/diff': { valid: diff },
  'GET /runners': { valid: plain('/runners', 200) },
  'GET /health': { valid: plain('/health', 200) },
};

/** `template` with every parameter filled with something valid from the pools. */
export function fillPath(template: string, pools: Pools): string {
  const pool: IdPool = template.startsWith('/tasks')
    ? 'tasks'
    : template.startsWith('/runs')
      ? 'runs'
      : 'tickets';
  const run = pools.artifacts[0];
  return template
    .replace('{id}', template.includes('{name}') ? run.run : pools[pool][0])
    .replace('{name}', run.name);
}
