export * from './choose-dispatch';
export * from './dispatch-ready-tasks';
