import { Logger } from '@nestjs/common';
import type { TaskCommand, TaskCommandReply, TaskStatus } from '@drover/contracts';
import type { PrismaClient, Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { decideApproval } from '../approvals';
import { answerInput } from '../inputs';
import { ReportUseCase, type Effects, type TimerPort } from './report-use-case';

/** The status a task must be in for each action, and what acting on another says. */
const WAITS_FOR = {
  approve: 'AWAITING_APPROVAL',
  reject: 'AWAITING_APPROVAL',
  answer: 'AWAITING_INPUT',
} as const satisfies Record<TaskCommand['op'], TaskStatus>;

/**
 * A person's action on a waiting task of their project: `approve` releases an
 * approval gate (READY), `reject` fails it (its dependents are blocked, or run
 * under `on_failure: continue`), `answer` gives an input request its value and
 * the task runs again. Who, when and what are recorded. Acting on a task that
 * is not waiting for it changes nothing (409).
 */
export class ActOnTask extends ReportUseCase<TaskCommand, TaskCommandReply> {
  private readonly logger = new Logger(ActOnTask.name);

  constructor(
    prisma: PrismaClient,
    timers?: TimerPort,
    /** DROVER_SECRETS_KEY: seals answers to secret requests; without it they are refused. */
    private readonly secretsKey?: Uint8Array,
  ) {
    super(prisma, timers);
  }

  async apply(
    tx: Tx,
    command: TaskCommand,
    effects: Effects,
    correlationId?: string,
  ): Promise<TaskCommandReply> {
    const [task] = await tx.$queryRaw<{ ticket_id: string; key: string; status: TaskStatus }[]>`
      SELECT ticket_id, key, status FROM task
      WHERE id = ${command.taskId}::uuid AND project_id = ${command.projectId}::uuid
      FOR UPDATE`;
    if (!task) return refuse(404, 'NOT_FOUND', `no task ${command.taskId}`);
    const waitsFor = WAITS_FOR[command.op];
    if (task.status !== waitsFor) {
      const what = waitsFor === 'AWAITING_APPROVAL' ? 'approval' : 'input';
      return refuse(
        409,
        `NOT_${waitsFor}`,
        `task ${command.taskId} is ${task.status}, not waiting for ${what}; nothing was changed`,
      );
    }
    const events: OutboxMessage[] = [];
    const ref = { id: command.taskId, ticketId: task.ticket_id, key: task.key };
    let status: TaskStatus | undefined;
    if (command.op === 'answer') {
      const answered = await answerInput(tx, ref, command, this.secretsKey, events);
      if (!answered.ok) {
        const details = answered.path ? [{ path: answered.path, message: answered.message }] : [];
        return refuse(answered.status, answered.code, answered.message, details);
      }
      status = 'READY';
    } else {
      const decision = command.op === 'approve' ? 'approved' : 'rejected';
      status = await decideApproval(
        tx,
        command.taskId,
        { decision, comment: command.comment ?? null, by: command.by },
        events,
        effects,
      );
    }
    await appendToOutbox(tx, events, correlationId);
    this.logger.log(`task ${command.taskId}: ${command.op} by key ${command.by.keyId}`);
    return { ok: true, taskStatus: status ?? task.status };
  }
}

function refuse(
  status: number,
  code: string,
  message: string,
  details?: { path: string; message: string }[],
): TaskCommandReply {
  return { ok: false, status, error: { code, message, ...(details?.length ? { details } : {}) } };
}
