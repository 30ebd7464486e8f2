export * from './bootstrap';
export * from './infra.module';
