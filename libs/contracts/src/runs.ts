import { z } from 'zod';
import { ErrorClass } from './domain';
import { ArtifactInfo, LogLine } from './run-outputs';
import { EnvName, TaskSpec, Text } from './task-spec';

/** Work for a runner: a leased attempt of a task. */
export const RunDispatched = z.object({
  runId: z.uuid(),
  taskId: z.uuid(),
  ticketId: z.uuid(),
  attempt: z.number().int().positive(),
  leaseToken: z.uuid(),
  agent: z.string(),
  spec: TaskSpec,
  /** Wall-clock limit of the run; the runner stops it when this passes. */
  timeoutMs: z.number().int().positive(),
});
export type RunDispatched = z.infer<typeof RunDispatched>;

const Fenced = z.object({ runId: z.uuid(), leaseToken: z.uuid(), runnerId: z.string().min(1) });

/**
 * Runner -> orchestrator (request/reply): may this runner start the run? Only
 * the holder of the current lease on a run still DISPATCHED (or already started
 * by the same runner: a retried request) gets `ok`; anything else must not run.
 */
export const RunStarted = Fenced.extend({ startedAt: z.iso.datetime() });
export type RunStarted = z.infer<typeof RunStarted>;

export const StartRunReply = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    /** When the lease ends unless heartbeats renew it. */
    leaseExpiresAt: z.iso.datetime(),
  }),
  z.object({ ok: z.literal(false), reason: z.string() }),
]);
export type StartRunReply = z.infer<typeof StartRunReply>;

/**
 * How a run ended on its runner. RELEASED: the runner gave the run back unfinished
 * (it is shutting down); the task is retried at once, without backoff.
 * NEEDS_INPUT: the run asked a person for a value (`input`); the task waits
 * AWAITING_INPUT and runs again once it is answered.
 */
export const RunOutcome = z.enum(['SUCCEEDED', 'FAILED', 'RELEASED', 'NEEDS_INPUT']);
export type RunOutcome = z.infer<typeof RunOutcome>;

export const INPUT_LIMITS = { promptLength: 4_000, choices: 50, choiceLength: 200 } as const;

/**
 * What a run asks a person for, as it writes it to `$DROVER_REQUEST`: the
 * variable the answer becomes, the question, whether the answer is a secret
 * (sealed at rest, never shown, redacted from output), and the allowed answers.
 */
export const InputAsk = z
  .object({
    name: EnvName.refine(
      (n) => !n.startsWith('DROVER_'),
      'names starting with DROVER_ are reserved',
    ),
    prompt: Text(1, INPUT_LIMITS.promptLength),
    secret: z.boolean().default(false),
    choices: z.array(Text(1, INPUT_LIMITS.choiceLength)).max(INPUT_LIMITS.choices).optional(),
  })
  .strict();
export type InputAsk = z.infer<typeof InputAsk>;

export const RunFinished = Fenced.extend({
  outcome: RunOutcome,
  exitCode: z.number().int().nullable(),
  errorClass: ErrorClass.nullable(),
  errorMessage: z.string().max(8192).nullable(),
  result: z.record(z.string(), z.unknown()).nullable(),
  finishedAt: z.iso.datetime(),
  /** NEEDS_INPUT: what the run asks for. */
  input: InputAsk.optional(),
  /**
   * How many log lines the run sent (its batches number lines 0 .. logLines - 1).
   * The run ends only once they are all stored (or the wait for them runs out).
   * Optional within v1: a runner from before it sends none, and its report ends
   * the run as it arrives.
   */
  logLines: z.number().int().nonnegative().optional(),
  /**
   * RATE_LIMITED: the wait the provider (or its CLI) stated, in ms; null when it stated
   * none. The retry waits at least this long, up to MAX_RETRY_AFTER_MS (the control
   * plane clamps it again: the figure comes out of a sandbox).
   */
  retryAfterMs: z.number().int().nonnegative().nullable().optional(),
});
export type RunFinished = z.infer<typeof RunFinished>;

/** A batch of consecutive output lines of one run, numbered from `firstLine` (0-based). */
export const RunLogAppended = Fenced.extend({
  firstLine: z.number().int().nonnegative(),
  lines: z.array(LogLine).min(1).max(10_000),
});
export type RunLogAppended = z.infer<typeof RunLogAppended>;

/** Why the control plane wants a run stopped. */
export const StopReason = z.enum(['CANCELLED', 'TIMEOUT', 'LEASE_LOST']);
export type StopReason = z.infer<typeof StopReason>;

/** outbox -> runners: stop a run now (the control plane has already ended it). */
export const RunStopRequested = z.object({
  runId: z.uuid(),
  taskId: z.uuid(),
  ticketId: z.uuid(),
  /** The runner that holds the run, when known. */
  runnerId: z.string().nullable(),
  reason: StopReason,
});
export type RunStopRequested = z.infer<typeof RunStopRequested>;

/** runner -> orchestrator: an artifact of the run is in the artifact store (fenced like logs). */
export const RunArtifactStored = Fenced.extend({
  artifact: ArtifactInfo,
  storedAt: z.iso.datetime(),
});
export type RunArtifactStored = z.infer<typeof RunArtifactStored>;
