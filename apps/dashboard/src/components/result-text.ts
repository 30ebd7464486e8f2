import type { CancelResult, RerunResult, TaskStatus } from '../api';
import { someKeys } from '../lib/actions';
import { statusLabel } from '../lib/status';

export function cancelledText(result: CancelResult): string {
  const cancelled = result.cancelled.length
    ? `Cancelled ${someKeys(result.cancelled)}`
    : 'Nothing was left to cancel';
  const blocked = result.blocked.length ? `; blocked ${someKeys(result.blocked)}` : '';
  return `${cancelled}${blocked}.`;
}

export function rerunText(result: RerunResult): string {
  const n = result.rerun.length;
  return `${n} ${n === 1 ? 'task waits' : 'tasks wait'} to run again: ${someKeys(result.rerun)}.`;
}

export function nowText(what: string, status: TaskStatus): string {
  return `${what}: the task is now ${statusLabel(status)}.`;
}
