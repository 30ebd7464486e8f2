export * from './domain';
export * from './envelope';
export * from './events';
export * from './runners';
export * from './runs';
export * from './subjects';
export * from './tickets';
export * from './validation';
