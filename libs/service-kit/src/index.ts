export * from './bootstrap';
export * from './infra.module';
export * from './http-drain';
export * from './metrics';
export * from './relay-metrics';
export * from './traced-logger';
