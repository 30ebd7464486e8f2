export * from './command-agent';
export * from './docker-driver';
export * from './log-buffer';
export * from './process-driver';
export * from './run-executor';
export * from './sandbox-driver';
export * from './workspace';
