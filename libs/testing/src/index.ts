export * from './infra-urls';
export * from './test-env';
