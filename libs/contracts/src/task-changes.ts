import { z } from 'zod';

/** A task a command moved (cancelled, or set to run again), with the status it left. */
export const TaskLeft = z.object({ id: z.uuid(), key: z.string(), previous: z.string() });
export type TaskLeft = z.infer<typeof TaskLeft>;

/** A dependent a cancellation made BLOCKED. */
export const TaskBlocked = z.object({ id: z.uuid(), key: z.string() });
export type TaskBlocked = z.infer<typeof TaskBlocked>;
