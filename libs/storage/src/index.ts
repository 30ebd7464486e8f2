export * from './artifact-store';
export * from './artifact-store-config';
export * from './artifact-validation';
export * from './local-artifact-store';
export * from './s3-artifact-store';
export * from './storage.errors';
