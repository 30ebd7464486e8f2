export * from './choose-dispatch';
export * from './dispatch-ready-tasks';
export * from './assess-waiting-tasks';
