import { z } from 'zod';
import { ErrorClass } from './domain';
import { TaskSpec } from './tickets';

/** Work for a runner: a leased attempt of a task. */
export const RunDispatched = z.object({
  runId: z.uuid(),
  taskId: z.uuid(),
  ticketId: z.uuid(),
  attempt: z.number().int().positive(),
  leaseToken: z.uuid(),
  agent: z.string(),
  spec: TaskSpec,
});
export type RunDispatched = z.infer<typeof RunDispatched>;

const Fenced = z.object({ runId: z.uuid(), leaseToken: z.uuid(), runnerId: z.string().min(1) });

export const RunStarted = Fenced.extend({ startedAt: z.iso.datetime() });
export type RunStarted = z.infer<typeof RunStarted>;

export const RunOutcome = z.enum(['SUCCEEDED', 'FAILED']);

export const RunFinished = Fenced.extend({
  outcome: RunOutcome,
  exitCode: z.number().int().nullable(),
  errorClass: ErrorClass.nullable(),
  errorMessage: z.string().max(8192).nullable(),
  result: z.record(z.string(), z.unknown()).nullable(),
  finishedAt: z.iso.datetime(),
});
export type RunFinished = z.infer<typeof RunFinished>;

export const LogStream = z.enum(['stdout', 'stderr', 'system']);
export type LogStream = z.infer<typeof LogStream>;

export const LogLine = z.object({
  stream: LogStream,
  text: z.string().max(65_536),
  ts: z.iso.datetime(),
});
export type LogLine = z.infer<typeof LogLine>;

/** A batch of consecutive output lines of one run, numbered from `firstLine` (0-based). */
export const RunLogAppended = Fenced.extend({
  firstLine: z.number().int().nonnegative(),
  lines: z.array(LogLine).min(1).max(10_000),
});
export type RunLogAppended = z.infer<typeof RunLogAppended>;
