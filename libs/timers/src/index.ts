export * from './timer-queue';
