import { z } from 'zod';

/**
 * The response bodies the OpenAPI document publishes, each under its name in
 * `components.schemas`. A registry of its own: the request bodies' schemas
 * (nestjs-zod's DTOs) keep the global one.
 */
export const apiSchemas = z.registry<{ id: string }>();

/** `schema`, published as `#/components/schemas/<id>`. */
export function published<S extends z.ZodType>(id: string, schema: S): S {
  apiSchemas.add(schema, { id });
  return schema;
}
