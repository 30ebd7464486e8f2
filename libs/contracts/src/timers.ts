import { z } from 'zod';

/**
 * A timer held in BullMQ. `retry`: the backoff of task `id` after its attempt
 * `attempt` has passed, so it may run again. `timeout`: run `id` (attempt
 * `attempt` of its task) has reached its deadline. `approval`: task `id` has
 * waited for an approval longer than its `approval_timeout` (`attempt` is 1).
 * `log`: run `id` reported finished has waited long enough for the rest of its
 * log; it ends with the lines still missing counted as lost. Firing is compare-and-set on
 * the state the timer was set for, so a duplicate or late timer changes nothing.
 */
export const TimerJob = z.object({
  kind: z.enum(['retry', 'timeout', 'approval', 'log']),
  id: z.uuid(),
  attempt: z.number().int().positive(),
  dueAt: z.iso.datetime(),
});
export type TimerJob = z.infer<typeof TimerJob>;

/** The deterministic BullMQ job id of a timer: setting it twice schedules it once. */
export function timerJobId(timer: Pick<TimerJob, 'kind' | 'id' | 'attempt'>): string {
  return `${timer.kind}-${timer.id}-${timer.attempt}`;
}
