export * from './runner-registry';
