import { z } from 'zod';
import { TaskStatus } from './domain';
import { EnvName, SPEC_LIMITS, Text } from './task-spec';
import { ErrorBody } from './error-body';

/** Who acted: the API key's id and name, recorded with what they decided. */
export const Actor = z.object({ keyId: z.uuid(), name: z.string().min(1).max(200) });
export type Actor = z.infer<typeof Actor>;

export const DECISION_LIMITS = { commentLength: 4_000 } as const;

/** The body of `POST /tasks/:id/input`: the answer to the task's open request. */
export const AnswerBody = z
  .object({
    /** The variable asked for; when given, it must be the open request's. */
    name: EnvName.optional(),
    value: Text(0, SPEC_LIMITS.envValueLength),
  })
  .strict();
export type AnswerBody = z.infer<typeof AnswerBody>;

/** The body of `POST /tasks/:id/approve` and `/reject`. */
export const DecisionBody = z
  .object({ comment: Text(1, DECISION_LIMITS.commentLength).optional() })
  .strict();
export type DecisionBody = z.infer<typeof DecisionBody>;

const Targeted = z.object({ taskId: z.uuid(), projectId: z.uuid(), by: Actor });

/**
 * gateway -> orchestrator (request/reply): a person acts on a waiting task of
 * their project: releases or fails an approval gate, answers an input request. Another project's task is
 * answered as not found.
 */
export const TaskCommand = z.discriminatedUnion('op', [
  Targeted.extend({ op: z.literal('approve'), comment: DecisionBody.shape.comment }),
  Targeted.extend({ op: z.literal('reject'), comment: DecisionBody.shape.comment }),
  Targeted.extend({ op: z.literal('answer'), ...AnswerBody.shape }),
]);
export type TaskCommand = z.infer<typeof TaskCommand>;

export const TaskCommandReply = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), taskStatus: TaskStatus }),
  z.object({ ok: z.literal(false), status: z.number().int(), error: ErrorBody }),
]);
export type TaskCommandReply = z.infer<typeof TaskCommandReply>;
