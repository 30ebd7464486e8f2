export * from './telemetry';
export * from './trace-context';
export * from './span-names';
export { routeOf } from './instrumentations';
