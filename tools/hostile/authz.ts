// The authorization matrix: every operation of the document (but the public /health, /metrics)
// and the event stream's handshake, times every kind of credential, each cell's status
// written down here beforehand. The objects are project A's (a finished ticket, its task,
// a run with a log line and an artifact, a run with a diff); A is not the operator
// project, so its admin and the operator's admin are two columns. Each DELETE cell
// revokes a key of A's issued for that cell alone; each POST /projects cell a new slug.
import { randomBytes } from 'node:crypto';
import { Api, KeyIssued } from './api';
import type { Operation } from './openapi';
import type { Principals } from './principals';
import { SWEEP, type Targets } from './seed';
import type { Outcome } from './types';
import { handshake } from './ws-auth';

const CREDENTIALS = [
  'none',
  'malformed',
  'expired',
  'revoked',
  'viewer',
  'member',
  'admin',
  'other',
  'operator',
] as const;
type Credential = (typeof CREDENTIALS)[number];

/** What each column sends. */
const LEGEND: Record<Credential, string> = {
  none: 'no Authorization header',
  malformed: 'Bearer drv_0123_not-a-key (not the key format)',
  expired: "project A's viewer key, past its expires_at",
  revoked: "project A's admin key, revoked",
  viewer: "project A's viewer key",
  member: "project A's member key",
  admin: "project A's admin key (A is not the operator project)",
  other: "project B's admin key (B is not the operator project either)",
  operator: "the operator project's admin key (the suite's; another project than A)",
};

/** The credentials that must all get one and the same 401. */
const UNAUTHENTICATED: readonly Credential[] = ['none', 'malformed', 'expired', 'revoked'];

type Row = readonly [number, number, number, number, number, number, number, number, number];

const WS = 'WS /events?ticket={id}';

// The expected status of each cell: 101 is the stream opening. Cancels of A's finished
// ticket and task answer 409 to those allowed to cancel (and to approve, reject or answer:
// the task waits for neither; and to rerun the task: it succeeded); other projects get 404. The
// ticket submitted names project A, so another project's key gets 403 for it. Deleting
// A's open ticket is refused with 409 to those allowed to delete.
// prettier-ignore
const EXPECTED: Record<string, Row> = {
  //                                 none malf  exp  rev view memb admin other oper
  'POST /tickets':                   [401, 401, 401, 401, 403, 201, 201, 403, 403],
  'GET /tickets':                    [401, 401, 401, 401, 200, 200, 200, 200, 200],
  'GET /tickets/{id}':               [401, 401, 401, 401, 200, 200, 200, 404, 404],
  'DELETE /tickets/{id}':            [401, 401, 401, 401, 403, 409, 409, 404, 404],
  'POST /tickets/{id}/cancel':       [401, 401, 401, 401, 403, 409, 409, 404, 404],
  // A's finished ticket FAILED (its task `fails`): the member's rerun reopens it, so the admin's
  // finds it open. Nothing runs it (the suite's runner has stopped), and later rows do not read it.
  'POST /tickets/{id}/rerun':        [401, 401, 401, 401, 403, 200, 409, 404, 404],
  'POST /experiments':               [401, 401, 401, 401, 403, 201, 201, 201, 201],
  'GET /experiments':                [401, 401, 401, 401, 200, 200, 200, 200, 200],
  'GET /experiments/{id}':           [401, 401, 401, 401, 200, 200, 200, 404, 404],
  'DELETE /experiments/{id}':        [401, 401, 401, 401, 403, 409, 409, 404, 404],
  'GET /tasks/{id}':                 [401, 401, 401, 401, 200, 200, 200, 404, 404],
  'POST /tasks/{id}/cancel':         [401, 401, 401, 401, 403, 409, 409, 404, 404],
  'POST /tasks/{id}/rerun':          [401, 401, 401, 401, 403, 409, 409, 404, 404],
  'POST /tasks/{id}/approve':        [401, 401, 401, 401, 403, 409, 409, 404, 404],
  'POST /tasks/{id}/reject':         [401, 401, 401, 401, 403, 409, 409, 404, 404],
  'POST /tasks/{id}/input':          [401, 401, 401, 401, 403, 409, 409, 404, 404],
  'GET /runs/{id}/logs':             [401, 401, 401, 401, 200, 200, 200, 404, 404],
  'GET /runs/{id}/artifacts':        [401, 401, 401, 401, 200, 200, 200, 404, 404],
  'GET /runs/{id}/artifacts/{name}': [401, 401, 401, 401, 200, 200, 200, 404, 404],
  'GET /runs/{id}/diff':             [401, 401, 401, 401, 200, 200, 200, 404, 404],
  'GET /runners':                    [401, 401, 401, 401, 200, 200, 200, 200, 200],
  'GET /providers':                  [401, 401, 401, 401, 200, 200, 200, 200, 200],
  'GET /me':                         [401, 401, 401, 401, 200, 200, 200, 200, 200],
  'POST /projects':                  [401, 401, 401, 401, 403, 403, 403, 403, 201],
  'GET /projects/{id}':              [401, 401, 401, 401, 200, 200, 200, 404, 404],
  'POST /projects/{id}/keys':        [401, 401, 401, 401, 403, 403, 201, 404, 404],
  'GET /projects/{id}/keys':         [401, 401, 401, 401, 403, 403, 200, 404, 404],
  'DELETE /keys/{id}':               [401, 401, 401, 401, 403, 403, 200, 404, 404],
  'POST /events/token':              [401, 401, 401, 401, 201, 201, 201, 201, 201],
  [WS]:                              [401, 401, 401, 401, 101, 101, 101, 404, 404],
};

interface Request {
  method: string;
  path: string;
  body?: unknown;
}

/** The request of each row, on project A's objects (`fresh` gives a new key id of A). */
function requestOf(row: string, t: Targets, fresh: () => Promise<string>): Promise<Request> {
  const nop = { title: 'authz', project: t.project.slug, tasks: [{ key: 'a', agent: 'nop' }] };
  const slug = `authz-${randomBytes(6).toString('hex')}`;
  const requests: Record<string, Request> = {
    'POST /tickets': { method: 'POST', path: '/tickets', body: nop },
    'GET /tickets': { method: 'GET', path: '/tickets?limit=1' },
    'GET /tickets/{id}': { method: 'GET', path: `/tickets/${t.ticket}` },
    // A ticket that never ends: deleting it is refused, so no later row loses it.
    'DELETE /tickets/{id}': { method: 'DELETE', path: `/tickets/${t.openTicket}` },
    'POST /tickets/{id}/cancel': { method: 'POST', path: `/tickets/${t.ticket}/cancel` },
    'POST /tickets/{id}/rerun': { method: 'POST', path: `/tickets/${t.ticket}/rerun` },
    'POST /experiments': { method: 'POST', path: '/experiments', body: SWEEP },
    'GET /experiments': { method: 'GET', path: '/experiments?limit=1' },
    'GET /experiments/{id}': { method: 'GET', path: `/experiments/${t.experiment}` },
    'DELETE /experiments/{id}': { method: 'DELETE', path: `/experiments/${t.experiment}` },
    'GET /tasks/{id}': { method: 'GET', path: `/tasks/${t.task}` },
    'POST /tasks/{id}/cancel': { method: 'POST', path: `/tasks/${t.task}/cancel` },
    'POST /tasks/{id}/rerun': { method: 'POST', path: `/tasks/${t.task}/rerun` },
    'POST /tasks/{id}/approve': { method: 'POST', path: `/tasks/${t.task}/approve` },
    'POST /tasks/{id}/reject': {
      method: 'POST',
      path: `/tasks/${t.task}/reject`,
      body: { comment: 'authz' },
    },
    'POST /tasks/{id}/input': {
      method: 'POST',
      path: `/tasks/${t.task}/input`,
      body: { value: 'authz' },
    },
    'GET /runs/{id}/logs': { method: 'GET', path: `/runs/${t.run}/logs` },
    'GET /runs/{id}/artifacts': { method: 'GET', path: `/runs/${t.run}/artifacts` },
    'GET /runs/{id}/artifacts/{name}': {
      method: 'GET',
      path: `/runs/${t.run}/artifacts/${t.artifact}`,
    },
    'GET /runs/{id}/diff': { method: 'GET', path: `/runs/${t.diffRun}/diff` },
    'GET /runners': { method: 'GET', path: '/runners' },
    'GET /providers': { method: 'GET', path: '/providers' },
    'GET /me': { method: 'GET', path: '/me' },
    'POST /projects': { method: 'POST', path: '/projects', body: { slug, name: 'authz' } },
    'GET /projects/{id}': { method: 'GET', path: `/projects/${t.project.id}` },
    'POST /projects/{id}/keys': {
      method: 'POST',
      path: `/projects/${t.project.id}/keys`,
      body: { name: 'authz', role: 'viewer' },
    },
    'GET /projects/{id}/keys': { method: 'GET', path: `/projects/${t.project.id}/keys` },
    'POST /events/token': { method: 'POST', path: '/events/token' },
    [WS]: { method: 'GET', path: `/events?ticket=${t.ticket}` },
  };
  if (row === 'DELETE /keys/{id}')
    return fresh().then((id) => ({ method: 'DELETE', path: `/keys/${id}` }));
  const request = requests[row];
  if (!request) throw new Error(`authz.ts has no request for ${row}`);
  return Promise.resolve(request);
}

interface Answer {
  status: number;
  body: string;
  /** The WWW-Authenticate header (undefined: not read, as for a handshake). */
  challenge?: string | null;
}

async function send(base: string, request: Request, authorization?: string): Promise<Answer> {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  if (request.path.startsWith('/events?')) {
    const outcome: Outcome = await handshake(base, request.path.slice('/events'.length), headers);
    if ('failure' in outcome) throw new Error(`${WS}: ${outcome.failure}`);
    return outcome;
  }
  if (request.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${request.path}`, {
    method: request.method,
    headers,
    ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
    redirect: 'manual',
    signal: AbortSignal.timeout(20_000),
  });
  return {
    status: res.status,
    body: await res.text(),
    challenge: res.headers.get('www-authenticate'),
  };
}

export interface Cell {
  row: string;
  credential: Credential;
  expected: number;
  got: number;
}

export interface MatrixResult {
  cells: Cell[];
  unexpected: number;
  /** Checks beyond the statuses: the 401s' bodies and challenges. */
  problems: string[];
}

/** The rows the document asks for: one per operation but the public ones, and the handshake. */
function rowsFor(operations: Operation[]): string[] {
  const keys = operations.filter((o) => o.secured).map((o) => o.key);
  const missing = keys.filter((k) => !EXPECTED[k]);
  if (missing.length)
    throw new Error(`authz.ts has no expected row for ${missing.join(', ')}: add one`);
  const stale = Object.keys(EXPECTED).filter((k) => k !== WS && !keys.includes(k));
  if (stale.length) throw new Error(`authz.ts has rows the document lacks: ${stale.join(', ')}`);
  return [...keys, WS];
}

export async function authorizationMatrix(
  base: string,
  operations: Operation[],
  principals: Principals,
  targets: Targets,
): Promise<MatrixResult> {
  const { a, b, operator } = principals;
  const keyOf: Record<Credential, string | undefined> = {
    none: undefined,
    malformed: 'drv_0123_not-a-key',
    expired: a.expired.key,
    revoked: a.revoked.key,
    viewer: a.viewer.key,
    member: a.member.key,
    admin: a.admin.key,
    other: b.admin.key,
    operator: operator.admin.key,
  };
  const admin = new Api(base, a.admin.key);
  const fresh = async () =>
    (
      await admin.post(`/projects/${a.id}/keys`, KeyIssued, {
        name: 'authz throwaway',
        role: 'viewer',
      })
    ).id;
  const cells: Cell[] = [];
  const unauthenticated: Answer[] = [];
  for (const row of rowsFor(operations)) {
    for (const [i, credential] of CREDENTIALS.entries()) {
      const key = keyOf[credential];
      const answer = await send(base, await requestOf(row, targets, fresh), key && `Bearer ${key}`);
      cells.push({ row, credential, expected: EXPECTED[row][i], got: answer.status });
      if (UNAUTHENTICATED.includes(credential) && answer.status === 401)
        unauthenticated.push(answer);
    }
  }
  return {
    cells,
    unexpected: cells.filter((c) => c.got !== c.expected).length,
    problems: sameRefusal(unauthenticated),
  };
}

/** Every 401 the same, whatever was wrong with the key, each with its Bearer challenge. */
function sameRefusal(answers: Answer[]): string[] {
  const bodies = [...new Set(answers.map((a) => a.body))];
  const problems: string[] = [];
  if (bodies.length > 1)
    problems.push(
      `401 answers differ by what was wrong with the key: ${bodies.map((b) => b.slice(0, 160)).join(' | ')}`,
    );
  const read = answers.filter((a) => a.challenge !== undefined);
  const unchallenged = read.filter((a) => a.challenge !== 'Bearer').length;
  if (unchallenged) problems.push(`${unchallenged} REST 401s without "WWW-Authenticate: Bearer"`);
  return problems;
}

/** The matrix as a table: a cell is `expected`, or `expected≠got`; then the totals and legend. */
export function matrixTable(result: MatrixResult): string {
  const rows = [...new Set(result.cells.map((c) => c.row))];
  const width = Math.max(...rows.map((r) => r.length), 'operation'.length);
  const text = (c: Cell) => (c.got === c.expected ? String(c.expected) : `${c.expected}≠${c.got}`);
  const columns = CREDENTIALS.map((cr) =>
    Math.max(
      cr.length,
      ...result.cells.filter((c) => c.credential === cr).map((c) => text(c).length),
    ),
  );
  const line = (first: string, cells: string[]) =>
    first.padEnd(width) + cells.map((c, i) => `  ${c.padStart(columns[i])}`).join('');
  const out = [line('operation', [...CREDENTIALS])];
  for (const row of rows) {
    const cells = CREDENTIALS.map((cr) => {
      const cell = result.cells.find((c) => c.row === row && c.credential === cr);
      return cell ? text(cell) : '-';
    });
    out.push(line(row, cells));
  }
  const total = result.cells.length;
  out.push(
    '',
    `cells ${total}, as expected ${total - result.unexpected}, unexpected ${result.unexpected}`,
    ...result.problems.map((p) => `problem: ${p}`),
    '',
    'columns:',
    ...CREDENTIALS.map((cr) => `  ${cr.padEnd(9)} ${LEGEND[cr]}`),
  );
  return out.join('\n');
}
