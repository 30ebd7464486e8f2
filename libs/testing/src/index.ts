export * from './git';
export * from './infra-urls';
export * from './processes';
export * from './reports';
export * from './sandbox';
export * from './test-env';
export * from './model-server';
export * from './ws-client';
