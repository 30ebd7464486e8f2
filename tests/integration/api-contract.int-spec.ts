import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { API_OPERATIONS } from '@drover/contracts/api';
import { DroverClient } from '@drover/client';
import { DEFAULT_PROJECT } from '@drover/workflow';
import {
  json,
  makeRepo,
  prepareFixtures,
  sender,
  type Fixtures,
  type Send,
} from './support/contract-fixtures';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';
import { operationsOf, problemsOf, type Answer, type OpenApiDoc } from './support/openapi-contract';

// The API contract end to end: every route of the OpenAPI document (not a list
// kept here) is called with real data (a ticket that ran against a repository,
// its logs, artifacts and diff, approvals, an input request, an experiment,
// projects and keys), and each answer must match the schema the document
// publishes for that operation and status: exactly z.toJSONSchema of the
// contract's zod schema, which must accept the body as it is.

let stack: InProcessStack;
let doc: OpenApiDoc;
let repo: string;
let send: Send;
let f: Fixtures;

/** The request of each operation that must succeed, by operationId. */
function calls(): Record<string, () => Promise<Answer>> {
  const workOrder =
    '---\ntitle: a work order\nagent: command\nsteps:\n  - run: "true"\n---\nNothing to do.';
  return {
    createTicket: () => send('POST', '/tickets', { body: workOrder, contentType: 'text/markdown' }),
    listTickets: () => send('GET', '/tickets?limit=5'),
    getTicket: () => send('GET', `/tickets/${f.ran.ticket}`),
    cancelTicket: () => send('POST', `/tickets/${f.cancelTicket}/cancel`),
    rerunTicket: () => send('POST', `/tickets/${f.rerunTicket}/rerun`),
    deleteTicket: () => send('DELETE', `/tickets/${f.spare}`),
    getTask: () => send('GET', `/tasks/${f.ran.task}`),
    cancelTask: () => send('POST', `/tasks/${f.cancelTask}/cancel`),
    rerunTask: () => send('POST', `/tasks/${f.rerunTask}/rerun`),
    approveTask: () =>
      send('POST', `/tasks/${f.gated.approve}/approve`, { body: { comment: 'go' } }),
    rejectTask: () => send('POST', `/tasks/${f.gated.reject}/reject`, { body: { comment: 'no' } }),
    answerTaskInput: () =>
      send('POST', `/tasks/${f.asking}/input`, { body: { name: 'COLOUR', value: 'blue' } }),
    getRunLogs: () => send('GET', `/runs/${f.ran.run}/logs?after=0&limit=100`),
    listRunArtifacts: () => send('GET', `/runs/${f.ran.run}/artifacts`),
    getRunArtifact: () => send('GET', `/runs/${f.ran.run}/artifacts/result.json`),
    getRunDiff: () => send('GET', `/runs/${f.ran.run}/diff`),
    listRunners: () => send('GET', '/runners'),
    listProviders: () => send('GET', '/providers'),
    createExperiment: () =>
      send('POST', '/experiments', {
        body: { agents: ['nop'], tasks: [{ name: 'noop', document: workOrder }] },
      }),
    listExperiments: () => send('GET', '/experiments'),
    getExperiment: () => send('GET', `/experiments/${f.experiments.read}`),
    deleteExperiment: () => send('DELETE', `/experiments/${f.experiments.spare}`),
    createProject: () =>
      send('POST', '/projects', {
        body: { slug: `contract-${randomUUID().slice(0, 8)}`, name: 'Contract', own_runners: true },
      }),
    getProject: () => send('GET', `/projects/${DEFAULT_PROJECT.id}`),
    createKey: () =>
      send('POST', `/projects/${DEFAULT_PROJECT.id}/keys`, {
        body: { name: 'contract', role: 'member', expires_at: '2099-01-01T00:00:00Z' },
      }),
    listKeys: () => send('GET', `/projects/${DEFAULT_PROJECT.id}/keys`),
    revokeKey: () => send('DELETE', `/keys/${f.spareKey}`),
    getMe: () => send('GET', '/me'),
    createEventToken: () => send('POST', '/events/token'),
    getHealth: () => send('GET', '/health', { key: null }),
    getMetrics: () => send('GET', '/metrics', { key: null }),
  };
}

beforeAll(async () => {
  repo = await makeRepo();
  stack = await startInProcessStack({ RUNNER_ALLOW_LOCAL_REPOS: 'true', RUNNER_SLOTS: '8' });
  send = sender(stack);
  doc = json<OpenApiDoc>(await send('GET', '/docs-json', { key: null }));
  f = await prepareFixtures(send, repo);
}, 240_000);

afterAll(async () => {
  await stack?.stop();
  if (repo) await rm(repo, { recursive: true, force: true });
}, 30_000);

describe('the OpenAPI document', () => {
  it('gives every route an operationId of the contract, each once, and a response schema for its success', () => {
    const operations = operationsOf(doc);
    const ids = operations.map(({ op }) => op.operationId);
    expect(ids.filter((id) => !id)).toEqual([]);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    expect([...ids].sort()).toEqual(Object.keys(API_OPERATIONS).sort());
    const unpublished = operations.flatMap(({ method, path, op }) =>
      ['200', '201']
        .filter((status) => op.responses[status])
        .filter((status) => {
          const content = op.responses[status].content ?? {};
          return !Object.values(content).some((media) => media.schema);
        })
        .map((status) => `${method.toUpperCase()} ${path} ${status}`),
    );
    expect(unpublished).toEqual([]);
    // Every route answers something it succeeds with.
    const noSuccess = operations.filter(({ op }) => !op.responses['200'] && !op.responses['201']);
    expect(noSuccess.map(({ op }) => op.operationId)).toEqual([]);
  });

  it('names the drv_ bearer scheme on every route that needs a key and none on the public ones, as the API does', async () => {
    const schemes = doc.components.securitySchemes ?? {};
    const [name, ...others] = Object.keys(schemes);
    expect(others).toEqual([]);
    expect(schemes[name]).toMatchObject({
      type: 'http',
      scheme: 'bearer',
      bearerFormat: expect.stringContaining('drv_') as string,
      description: expect.stringMatching(/opaque Drover API key, `drv_/) as string,
    });
    const refusals: string[] = [];
    for (const { method, path, op } of operationsOf(doc)) {
      const secured = (op.security ?? []).length > 0;
      if (secured)
        expect({ path, security: op.security }).toEqual({ path, security: [{ [name]: [] }] });
      const filled = path.replace('{id}', randomUUID()).replace('{name}', 'result.json');
      const { status } = await send(method.toUpperCase(), filled, { key: null });
      if (secured !== (status === 401))
        refusals.push(`${method.toUpperCase()} ${path}: ${status} without a key`);
    }
    expect(refusals).toEqual([]);
    const publicOnes = operationsOf(doc).filter(({ op }) => !(op.security ?? []).length);
    expect(publicOnes.map(({ path }) => path).sort()).toEqual(['/health', '/metrics']);
  });

  it('answers every route, called with real data, with a body its published schema validates', async () => {
    const byId = calls();
    const problems: string[] = [];
    for (const { method, path, op } of operationsOf(doc)) {
      const id = op.operationId ?? '';
      const call = byId[id];
      if (!call) {
        problems.push(`${method.toUpperCase()} ${path} (${id}): no call of it in this test`);
        continue;
      }
      const answer = await call();
      const success = API_OPERATIONS[id as keyof typeof API_OPERATIONS]?.status;
      if (answer.status !== success) {
        problems.push(
          `${id}: answered ${answer.status}, not ${success}: ${answer.text.slice(0, 300)}`,
        );
        continue;
      }
      problems.push(...problemsOf(doc, op, answer));
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it('answers errors with the error body the document publishes for them', async () => {
    const opOf = (id: string) => {
      const found = operationsOf(doc).find(({ op }) => op.operationId === id);
      if (!found) throw new Error(`no operation ${id}`);
      return found.op;
    };
    const errors: [string, number, Answer][] = [
      ['getTicket', 404, await send('GET', `/tickets/${randomUUID()}`)],
      ['getTicket', 401, await send('GET', `/tickets/${f.ran.ticket}`, { key: null })],
      ['getTicket', 400, await send('GET', '/tickets/not-a-uuid')],
      ['listTickets', 400, await send('GET', '/tickets?limit=0')],
      ['createTicket', 422, await send('POST', '/tickets', { body: { title: 't', tasks: [] } })],
      [
        'createTicket',
        422,
        await send('POST', '/tickets', {
          body: '---\ntitle: [\n---\n',
          contentType: 'text/markdown',
        }),
      ],
      ['cancelTicket', 409, await send('POST', `/tickets/${f.ran.ticket}/cancel`)],
      ['getRunDiff', 404, await send('GET', `/runs/${f.failedRun}/diff`)],
      ['getRunArtifact', 400, await send('GET', `/runs/${f.ran.run}/artifacts/..%2Fx`)],
      [
        'createProject',
        409,
        await send('POST', '/projects', { body: { slug: 'default', name: 'again' } }),
      ],
    ];
    const problems: string[] = [];
    for (const [id, status, answer] of errors) {
      if (answer.status !== status) {
        problems.push(
          `${id}: answered ${answer.status}, not ${status}: ${answer.text.slice(0, 200)}`,
        );
        continue;
      }
      const op = opOf(id);
      const response = op.responses[String(status)] ?? op.responses.default;
      const ref = response.content?.['application/json']?.schema?.$ref;
      if (ref !== '#/components/schemas/Error')
        problems.push(`${id} ${status}: published as ${ref}`);
      problems.push(...problemsOf(doc, op, answer));
    }
    expect(problems).toEqual([]);
  });

  it('is what @drover/client calls: a method for each operationId', () => {
    const client = new DroverClient({ baseUrl: stack.baseUrl });
    const methods = client as unknown as Record<string, unknown>;
    const missing = operationsOf(doc)
      .map(({ op }) => op.operationId ?? '')
      .filter((id) => typeof methods[id] !== 'function');
    expect(missing).toEqual([]);
  });

  // Last: it stops the stack's scheduler.
  it('answers GET /providers without a scheduler with the error body it publishes for 503', async () => {
    await stack.stopService('scheduler');
    const answer = await send('GET', '/providers');
    expect(answer.status).toBe(503);
    const found = operationsOf(doc).find(({ op }) => op.operationId === 'listProviders');
    if (!found) throw new Error('no operation listProviders');
    const ref = found.op.responses['503']?.content?.['application/json']?.schema?.$ref;
    expect(ref).toBe('#/components/schemas/Error');
    expect(json<{ error: { code: string } }>(answer).error.code).toBe('SCHEDULER_UNAVAILABLE');
    expect(problemsOf(doc, found.op, answer)).toEqual([]);
  }, 30_000);
});
