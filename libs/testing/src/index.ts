export * from './infra-urls';
export * from './test-env';
export * from './reports';
export * from './processes';
