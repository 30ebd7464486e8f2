// Reads the gateway's OpenAPI document (GET /docs-json) into the operations the suite attacks.
import { z } from 'zod';

/** The subset of JSON Schema (OpenAPI 3.0 flavour) the gateway's document uses. */
export interface JsonSchema {
  type?: string;
  enum?: (string | number)[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean | number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  anyOf?: JsonSchema[];
  $ref?: string;
}

const JsonSchemaDoc: z.ZodType<JsonSchema> = z.lazy(() =>
  z
    .object({
      type: z.string().optional(),
      enum: z.array(z.union([z.string(), z.number()])).optional(),
      pattern: z.string().optional(),
      minLength: z.number().optional(),
      maxLength: z.number().optional(),
      minimum: z.number().optional(),
      maximum: z.number().optional(),
      exclusiveMinimum: z.union([z.boolean(), z.number()]).optional(),
      items: JsonSchemaDoc.optional(),
      minItems: z.number().optional(),
      maxItems: z.number().optional(),
      properties: z.record(z.string(), JsonSchemaDoc).optional(),
      required: z.array(z.string()).optional(),
      additionalProperties: z.union([z.boolean(), JsonSchemaDoc]).optional(),
      anyOf: z.array(JsonSchemaDoc).optional(),
      $ref: z.string().optional(),
    })
    .loose(),
);

const Parameter = z.object({
  name: z.string(),
  in: z.enum(['path', 'query', 'header', 'cookie']),
  required: z.boolean().optional(),
});

const OperationDoc = z
  .object({
    parameters: z.array(Parameter).optional(),
    requestBody: z
      .object({ content: z.record(z.string(), z.object({ schema: JsonSchemaDoc })) })
      .optional(),
    responses: z.record(z.string(), z.unknown()).default({}),
    security: z.array(z.record(z.string(), z.array(z.string()))).optional(),
  })
  .loose();

const OpenApiDoc = z.object({
  openapi: z.string().regex(/^3\./),
  paths: z.record(z.string(), z.record(z.string(), OperationDoc)),
  components: z.object({ schemas: z.record(z.string(), JsonSchemaDoc).default({}) }).optional(),
});

export type Method = 'GET' | 'POST' | 'DELETE';

export interface Operation {
  /** `POST /tickets/{id}/cancel`: how the table names it. */
  key: string;
  method: Method;
  template: string;
  /** From the template itself: the document leaves some out. */
  pathParams: string[];
  query: string[];
  /** The JSON body's schema, references resolved. */
  body?: JsonSchema;
  /** The statuses the document lists (`default` left out). */
  responses: number[];
  /** It needs a key (the document names a security scheme); else it is public (/health, /metrics). */
  secured: boolean;
}

/** Every operation of the document at `${base}/docs-json`. */
export async function loadOperations(base: string): Promise<Operation[]> {
  const res = await fetch(`${base}/docs-json`);
  if (res.status !== 200) throw new Error(`GET /docs-json answered ${res.status}`);
  const doc = OpenApiDoc.parse(await res.json());
  const schemas = doc.components?.schemas ?? {};
  const operations: Operation[] = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    for (const [name, op] of Object.entries(methods)) {
      const method = name.toUpperCase();
      if (method !== 'GET' && method !== 'POST' && method !== 'DELETE') {
        throw new Error(
          `${method} ${template}: the suite knows GET, POST and DELETE only; add the method`,
        );
      }
      const params = op.parameters ?? [];
      const body = op.requestBody?.content['application/json']?.schema;
      operations.push({
        key: `${method} ${template}`,
        method,
        template,
        pathParams: [...template.matchAll(/\{(\w+)\}/g)].map((m) => m[1]),
        query: params.filter((p) => p.in === 'query').map((p) => p.name),
        ...(body ? { body: resolve(body, schemas) } : {}),
        responses: Object.keys(op.responses)
          .filter((status) => status !== 'default')
          .map(Number),
        secured: (op.security ?? []).length > 0,
      });
    }
  }
  return operations;
}

/** `schema` with every `$ref` to `#/components/schemas/...` replaced by its target. */
function resolve(schema: JsonSchema, schemas: Record<string, JsonSchema>): JsonSchema {
  if (schema.$ref) {
    const target = schemas[schema.$ref.replace('#/components/schemas/', '')];
    if (!target) throw new Error(`unresolved reference ${schema.$ref}`);
    return resolve(target, schemas);
  }
  const out: JsonSchema = { ...schema };
  if (schema.items) out.items = resolve(schema.items, schemas);
  if (schema.anyOf) out.anyOf = schema.anyOf.map((s) => resolve(s, schemas));
  if (typeof schema.additionalProperties === 'object')
    out.additionalProperties = resolve(schema.additionalProperties, schemas);
  if (schema.properties) {
    out.properties = Object.fromEntries(
      Object.entries(schema.properties).map(([k, s]) => [k, resolve(s, schemas)]),
    );
  }
  return out;
}

/** The schema at a dotted path of property names (`tasks.steps.run`), through arrays. */
export function schemaAt(root: JsonSchema, path: string): JsonSchema {
  let node = root;
  for (const name of path.split('.')) {
    while (node.type === 'array' && node.items) node = node.items;
    const next = node.properties?.[name];
    if (!next) throw new Error(`the document has no schema at ${path} (stopped at ${name})`);
    node = next;
  }
  return node;
}
