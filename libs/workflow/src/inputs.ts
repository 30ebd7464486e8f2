import { randomUUID } from 'node:crypto';
import {
  sealSecret,
  type Actor,
  type InputAsk,
  type StoredEnvValue,
  type TaskStatus,
} from '@drover/contracts';
import type { Tx } from '@drover/db';
import type { OutboxMessage } from '@drover/events';
import { taskChanged } from './outbox-messages';
import type { TaskRef } from './task-ending';

/** Most input requests one task may make: a run that asks forever is a broken run. */
export const MAX_INPUT_ROUNDS = 20;

/**
 * A run ended asking for a value: the task waits AWAITING_INPUT with the request
 * open. Asking does not use up an attempt (max_attempts grows by one). Returns
 * false when the task has asked `MAX_INPUT_ROUNDS` times already: it must fail.
 */
export async function askForInput(
  tx: Tx,
  task: TaskRef & { status: TaskStatus },
  runId: string,
  ask: InputAsk,
  events: OutboxMessage[],
): Promise<boolean> {
  const [{ rounds }] = await tx.$queryRaw<{ rounds: number }[]>`
    SELECT count(*)::int AS rounds FROM input_request WHERE task_id = ${task.id}::uuid`;
  if (rounds >= MAX_INPUT_ROUNDS) return false;
  await tx.$executeRaw`
    INSERT INTO input_request (id, task_id, run_id, name, prompt, secret, choices)
    VALUES (${randomUUID()}::uuid, ${task.id}::uuid, ${runId}::uuid, ${ask.name}, ${ask.prompt},
            ${ask.secret}, ${ask.choices ?? []}::text[])`;
  const reason = `asks for ${ask.name}: ${ask.prompt}`;
  await tx.$executeRaw`
    UPDATE task SET status = 'AWAITING_INPUT', reason = ${reason},
                    max_attempts = max_attempts + 1, updated_at = now()
    WHERE id = ${task.id}::uuid`;
  events.push(taskChanged(task, 'AWAITING_INPUT', task.status, { reason }));
  return true;
}

export interface Answer {
  name?: string;
  value: string;
  by: Actor;
}

export type AnswerResult =
  { ok: true } | { ok: false; status: number; code: string; message: string; path?: string };

/**
 * Answers the open request of a task AWAITING_INPUT (locked by the caller): the
 * value joins the task's env under the requested name (sealed when the request
 * is secret: then it is not kept in the request either) and the task is READY
 * to run again with it.
 */
export async function answerInput(
  tx: Tx,
  task: TaskRef,
  answer: Answer,
  secretsKey: Uint8Array | undefined,
  events: OutboxMessage[],
): Promise<AnswerResult> {
  const [open] = await tx.$queryRaw<
    { id: string; name: string; secret: boolean; choices: string[] }[]
  >`
    SELECT id, name, secret, choices FROM input_request
    WHERE task_id = ${task.id}::uuid AND answered_at IS NULL
    ORDER BY requested_at DESC LIMIT 1 FOR UPDATE`;
  if (!open) {
    return { ok: false, status: 409, code: 'NOT_AWAITING_INPUT', message: 'no open request' };
  }
  if (answer.name !== undefined && answer.name !== open.name) {
    return {
      ok: false,
      status: 422,
      code: 'WRONG_INPUT',
      message: `the task asks for ${open.name}, not ${answer.name}`,
      path: 'body.name',
    };
  }
  if (open.choices.length && !open.choices.includes(answer.value)) {
    return {
      ok: false,
      status: 422,
      code: 'NOT_A_CHOICE',
      message: `${open.name} must be one of: ${open.choices.join(', ')}`,
      path: 'body.value',
    };
  }
  if (open.secret && !secretsKey) {
    return {
      ok: false,
      status: 422,
      code: 'SECRETS_UNAVAILABLE',
      message: `${open.name} is a secret, and secrets need DROVER_SECRETS_KEY on the orchestrator, which is not set`,
    };
  }
  const stored: StoredEnvValue =
    open.secret && secretsKey ? { sealed: sealSecret(answer.value, secretsKey) } : answer.value;
  await tx.$executeRaw`
    UPDATE input_request SET value = ${open.secret ? null : answer.value},
                             answered_by = ${answer.by.name},
                             answered_by_key = ${answer.by.keyId}::uuid, answered_at = now()
    WHERE id = ${open.id}::uuid`;
  const reason = `${open.name} answered by ${answer.by.name}`;
  await tx.$executeRaw`
    UPDATE task SET status = 'READY', ready_at = now(), reason = ${reason}, updated_at = now(),
                    spec = jsonb_set(spec, '{env}',
                                     COALESCE(spec -> 'env', '{}'::jsonb)
                                       || jsonb_build_object(${open.name}::text, ${JSON.stringify(stored)}::jsonb))
    WHERE id = ${task.id}::uuid`;
  events.push(taskChanged(task, 'READY', 'AWAITING_INPUT', { reason }));
  return { ok: true };
}
