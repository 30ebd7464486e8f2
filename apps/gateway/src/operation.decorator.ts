import { applyDecorators, HttpCode } from '@nestjs/common';
import { ApiOperation } from '@nestjs/swagger';
import { API_OPERATIONS, type OperationId, type ServedOf } from '@drover/contracts/api';

/** A handler of operation `K`: what it returns is the body of K's schema (a raw body: nothing). */
type Handler<K extends OperationId> = (...args: never[]) => Promise<ServedOf<K>> | ServedOf<K>;

/**
 * Makes a handler operation `id` of the API contract (`API_OPERATIONS`): its
 * `operationId` and summary in the OpenAPI document (where the contract's
 * response schema is published for it) and its status of success. Its return
 * type must be the schema's body: a handler that builds another shape does not
 * compile.
 */
export function Operation<K extends OperationId>(
  id: K,
  doc: { summary: string; description?: string },
) {
  const decorate = applyDecorators(
    HttpCode(API_OPERATIONS[id].status),
    ApiOperation({ operationId: id, ...doc }),
  );
  return (
    target: object,
    key: string | symbol,
    descriptor: Pick<TypedPropertyDescriptor<Handler<K>>, 'value'>,
  ): void => {
    decorate(target, key, descriptor);
  };
}
