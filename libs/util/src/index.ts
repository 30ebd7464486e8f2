export * from './kicked-loop';
export * from './batcher';
