// @drover/client: a typed client of the Drover REST API for Node and browsers.
// Browser-safe: it loads the API contract (`@drover/contracts/api`) and zod, no node: module.
export * from './drover-api-error';
export * from './drover-client';
export type { DroverClientOptions, RawContent } from './transport';
export type * from '@drover/contracts/api';
