import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { API_OPERATIONS, apiSchemas, ErrorResponse, isRawBody } from '@drover/contracts/api';

// Reads the gateway's OpenAPI document and checks real answers against what it
// publishes: the schema under the operation and status, which must be exactly
// what z.toJSONSchema makes of the contract's zod schema, and which that zod
// schema (the one the published one was made from) must accept as it is.

interface MediaDoc {
  schema?: { $ref?: string; type?: string; format?: string };
}
interface ResponseDoc {
  description?: string;
  content?: Record<string, MediaDoc>;
}
export interface OperationDoc {
  operationId?: string;
  security?: Record<string, string[]>[];
  responses: Record<string, ResponseDoc>;
}
export interface OpenApiDoc {
  openapi: string;
  paths: Record<string, Record<string, OperationDoc>>;
  components: {
    schemas: Record<string, unknown>;
    securitySchemes?: Record<string, Record<string, unknown>>;
  };
}

/** What the API answered: status, content type and body text. */
export interface Answer {
  status: number;
  contentType: string;
  text: string;
}

/** Every operation of the document: method (lower case), path, and its object. */
export function operationsOf(
  doc: OpenApiDoc,
): { method: string; path: string; op: OperationDoc }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ method, path, op })),
  );
}

const REF = '#/components/schemas/';

/** The contract's schemas as z.toJSONSchema makes them for the document (OpenAPI 3.0). */
const generated = (() => {
  const { schemas } = z.toJSONSchema(apiSchemas, {
    target: 'openapi-3.0',
    io: 'input',
    uri: (id) => `${REF}${id}`,
  });
  return new Map(
    Object.entries(schemas).map(([id, schema]) => {
      const rest: Record<string, unknown> = { ...schema };
      delete rest.$id;
      return [id, rest];
    }),
  );
})();

/** The zod schema of each published response body, by its name in the document. */
const bodies = new Map<string, z.ZodType>();
for (const { response } of Object.values(API_OPERATIONS)) {
  if (!isRawBody(response)) bodies.set(apiSchemas.get(response)?.id ?? '?', response);
}
bodies.set('Error', ErrorResponse);

/**
 * What is wrong with `answer` as operation `op` of `doc` (none: empty): a status
 * the document does not publish, another media type, a published schema other
 * than the contract's, a body its schema refuses or with fields it does not
 * declare, a timestamp not in its canonical form.
 */
export function problemsOf(doc: OpenApiDoc, op: OperationDoc, answer: Answer): string[] {
  const at = `${op.operationId ?? '?'} ${answer.status}`;
  const response = op.responses[String(answer.status)] ?? op.responses.default;
  if (!response?.content) return [`${at}: the document publishes no body for this status`];
  const media = answer.contentType.split(';')[0].trim();
  const published =
    response.content[media] ??
    (Object.keys(response.content).includes('*/*') ? response.content['*/*'] : undefined);
  if (!published?.schema)
    return [`${at}: no schema for ${media} (${Object.keys(response.content).join(', ')})`];
  const ref = published.schema.$ref;
  if (!ref) {
    // Raw content: bytes (a stream) or text.
    return published.schema.type === 'string' && answer.text.length > 0
      ? []
      : [`${at}: raw ${media} content published as ${JSON.stringify(published.schema)}`];
  }
  const id = ref.slice(REF.length);
  const problems: string[] = [];
  if (!isDeepStrictEqual(doc.components.schemas[id], generated.get(id))) {
    problems.push(`${at}: the published ${id} is not z.toJSONSchema of the contract's schema`);
  }
  const schema = bodies.get(id);
  if (!schema) return [...problems, `${at}: ${id} is no response body of the contract`];
  const json = JSON.parse(answer.text) as unknown;
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.')}: ${i.message}`);
    return [...problems, `${at}: the body does not match ${id}: ${issues.join('; ')}`];
  }
  // Parsed back into JSON, it is the same: no field the schema does not declare.
  if (!isDeepStrictEqual(z.encode(schema, parsed.data), json)) {
    problems.push(`${at}: the body has fields ${id} does not declare, or a timestamp not as ISO`);
  }
  return problems;
}
