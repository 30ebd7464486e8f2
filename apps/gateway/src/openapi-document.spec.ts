import type { OpenAPIObject, PathItemObject } from '@nestjs/swagger';
import { API_OPERATIONS } from '@drover/contracts/api';
import { publishContracts } from './openapi-document';

/** A document with one operation per row of the contract, as Nest would list them. */
function documentOf(change: (paths: Record<string, PathItemObject>) => void = () => {}) {
  const paths: Record<string, PathItemObject> = {};
  for (const [operationId, { method, path, status }] of Object.entries(API_OPERATIONS)) {
    paths[path] = {
      ...paths[path],
      [method.toLowerCase()]: {
        operationId,
        responses: { [status]: { description: '' }, 404: { description: 'No such thing' } },
      },
    };
  }
  change(paths);
  return { openapi: '3.0.0', info: { title: 't', version: '1' }, paths } as OpenAPIObject;
}

describe(publishContracts.name, () => {
  it("publishes each operation's body and the error body under its statuses", () => {
    const published = publishContracts(documentOf());
    const getTicket = published.paths['/tickets/{id}'].get;
    expect(getTicket?.responses).toEqual({
      200: {
        description: 'Success',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Ticket' } } },
      },
      404: {
        description: 'No such thing',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
      default: {
        description: 'An error: any other status',
        content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      },
    });
    expect(published.paths['/runs/{id}/diff'].get?.responses[200]).toEqual({
      description: 'Success',
      content: { 'text/x-diff': { schema: { type: 'string', format: 'binary' } } },
    });
    expect(Object.keys(published.components?.schemas ?? {})).toEqual(
      expect.arrayContaining(['Ticket', 'Task', 'Run', 'Error', 'Health']),
    );
  });

  it('refuses a route that is no operation of the contract', () => {
    const withExtra = documentOf((paths) => {
      paths['/tickets/{id}/archive'] = {
        post: { operationId: 'TicketsController_archive', responses: {} },
      };
    });
    expect(() => publishContracts(withExtra)).toThrow(
      'OpenAPI: POST /tickets/{id}/archive (TicketsController_archive) is no operation of API_OPERATIONS',
    );
  });

  it('refuses a handler that serves another route than its operation names', () => {
    const moved = documentOf((paths) => {
      paths['/tickets/{id}/stop'] = { post: paths['/tickets/{id}/cancel'].post };
      delete paths['/tickets/{id}/cancel'];
    });
    expect(() => publishContracts(moved)).toThrow(
      'OpenAPI: cancelTicket is POST /tickets/{id}/cancel in API_OPERATIONS, but its handler serves POST /tickets/{id}/stop',
    );
  });

  it('refuses a contract operation no route serves', () => {
    const without = documentOf((paths) => delete paths['/metrics']);
    expect(() => publishContracts(without)).toThrow(
      'OpenAPI: no route serves getMetrics of API_OPERATIONS',
    );
  });
});
