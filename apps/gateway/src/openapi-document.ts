import type { INestApplication } from '@nestjs/common';
import {
  DocumentBuilder,
  SwaggerModule,
  type OpenAPIObject,
  type OperationObject,
  type ResponseObject,
  type ResponsesObject,
} from '@nestjs/swagger';
import { cleanupOpenApiDoc } from 'nestjs-zod';
import { z } from 'zod';
import {
  API_OPERATIONS,
  apiSchemas,
  isRawBody,
  type OperationContract,
  type OperationId,
} from '@drover/contracts/api';

/** The security scheme of every route but the public ones: an API key as a bearer token. */
export const API_KEY_SCHEME = 'droverApiKey';

const ref = (id: string) => `#/components/schemas/${id}`;
const ERROR = { 'application/json': { schema: { $ref: ref('Error') } } };
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

/**
 * The gateway's OpenAPI document: its routes as Nest describes them, the
 * request bodies from their zod DTOs, and each route's response bodies from
 * the API contract (`@drover/contracts/api`), converted by `z.toJSONSchema`.
 * Throws (the gateway does not start) when a route and the contract disagree.
 */
export function openApiDocument(app: INestApplication): OpenAPIObject {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Drover API')
      .setDescription(
        'Tickets, tasks, runs, logs, artifacts, runners, experiments, projects and keys. The dashboard is at /ui. Every route but /health, /metrics and /docs needs `Authorization: Bearer <key>`, a Drover API key. Every error answers `{ error: { code, message, details? } }`. Live events: WebSocket at /events?since=<seq>&ticket=<id> (the key in the header, or `token=` from POST /events/token). A typed client: `@drover/client`.',
      )
      .setVersion('1')
      .addBearerAuth(
        {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'drv_ API key',
          description:
            'An opaque Drover API key, `drv_<16 hex digits>_<43 base64url characters>` (not a JWT): `npm run bootstrap` prints the first, `POST /projects/{id}/keys` issues more. Sent as `Authorization: Bearer drv_...`.',
        },
        API_KEY_SCHEME,
      )
      .build(),
  );
  return publishContracts(cleanupOpenApiDoc(document));
}

/** `document` with the contract's response schemas in its components and under each operation. */
export function publishContracts(document: OpenAPIObject): OpenAPIObject {
  const schemas = { ...document.components?.schemas };
  const generated = z.toJSONSchema(apiSchemas, {
    target: 'openapi-3.0',
    io: 'input',
    uri: ref,
  }).schemas;
  for (const [id, schema] of Object.entries(generated)) {
    if (schemas[id]) throw new Error(`OpenAPI: two schemas are named ${id}`);
    // `$id` is JSON Schema's, not a keyword of OpenAPI 3.0's schema object.
    const rest: Record<string, unknown> = { ...schema };
    delete rest.$id;
    schemas[id] = rest;
  }
  const seen = new Set<string>();
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const operation = item[method];
      if (!operation) continue;
      const contract = contractOf(operation, method, path);
      seen.add(operation.operationId as string);
      operation.responses = responsesOf(contract, operation);
    }
  }
  const unserved = Object.keys(API_OPERATIONS).filter((id) => !seen.has(id));
  if (unserved.length) {
    throw new Error(`OpenAPI: no route serves ${unserved.join(', ')} of API_OPERATIONS`);
  }
  return { ...document, components: { ...document.components, schemas } };
}

function contractOf(operation: OperationObject, method: string, path: string): OperationContract {
  const route = `${method.toUpperCase()} ${path}`;
  const id = operation.operationId ?? '';
  if (!Object.hasOwn(API_OPERATIONS, id)) {
    throw new Error(
      `OpenAPI: ${route} (${id}) is no operation of API_OPERATIONS: give its handler @Operation(<its id>) and its response schema a row there`,
    );
  }
  const contract: OperationContract = API_OPERATIONS[id as OperationId];
  if (contract.method !== method.toUpperCase() || contract.path !== path) {
    throw new Error(
      `OpenAPI: ${id} is ${contract.method} ${contract.path} in API_OPERATIONS, but its handler serves ${route}`,
    );
  }
  return contract;
}

/**
 * The responses of an operation: success with the contract's body, each error
 * status Nest lists (and `default`, any other) with the error body.
 */
function responsesOf(contract: OperationContract, operation: OperationObject): ResponsesObject {
  const listed = operation.responses as Record<string, ResponseObject>;
  const body = isRawBody(contract.response)
    ? {
        [contract.response.contentType]: {
          schema:
            contract.response.read === 'stream'
              ? { type: 'string' as const, format: 'binary' }
              : { type: 'string' as const },
        },
      }
    : { 'application/json': { schema: { $ref: ref(idOf(contract.response)) } } };
  const responses: ResponsesObject = {};
  for (const status of [contract.status, ...(contract.alsoFor ?? [])]) {
    responses[status] = { description: listed[status]?.description || 'Success', content: body };
  }
  if (operation.security?.length) {
    responses[401] = {
      description: 'No key, or one that is malformed, unknown, revoked or expired',
      content: ERROR,
    };
  }
  for (const [status, response] of Object.entries(listed)) {
    if (Number(status) >= 400 && !responses[status]) {
      responses[status] = { description: response.description, content: ERROR };
    }
  }
  responses.default = { description: 'An error: any other status', content: ERROR };
  return responses;
}

function idOf(schema: z.ZodType): string {
  const id = apiSchemas.get(schema)?.id;
  if (!id) throw new Error('OpenAPI: a response schema of API_OPERATIONS is not published');
  return id;
}
