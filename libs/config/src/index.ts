export * from './config';
export * from './fields';
export * from './services';
