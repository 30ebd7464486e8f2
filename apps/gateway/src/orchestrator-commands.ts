import { Injectable } from '@nestjs/common';
import type { z } from 'zod';
import { GatewayConfig } from '@drover/config';
import {
  CancelReply,
  CreateExperimentReply,
  DeleteTicketReply,
  RerunReply,
  Subjects,
  TaskCommandReply,
  type CancelRequest,
  type CreateExperiment,
  type DeleteTicketRequest,
  type RerunRequest,
  type ErrorBody,
  type Subject,
  type TaskCommand,
} from '@drover/contracts';
import { NatsBus } from '@drover/messaging';
import { RETRY_AFTER_SECONDS } from './unavailable';
import { ApiError } from './api-error';

type Reply = { ok: true } | { ok: false; status: number; error: ErrorBody };

/**
 * Commands the gateway asks the orchestrator to carry out (request/reply over
 * NATS): a refusal becomes the HTTP answer, silence a 503 that says whether
 * asking again is safe.
 */
@Injectable()
export class OrchestratorCommands {
  constructor(
    private readonly bus: NatsBus,
    private readonly config: GatewayConfig,
  ) {}

  /** Cancels a ticket or a task: what was cancelled and what that blocked. */
  async cancel(request: CancelRequest) {
    const reply = await this.ask(Subjects.cancel, request, CancelReply, 'cancelling again is safe');
    return { cancelled: reply.cancelled, blocked: reply.blocked };
  }

  /** Runs a final ticket's or task's failures again: the tasks that wait to run. */
  async rerun(request: RerunRequest) {
    const reply = await this.ask(
      Subjects.rerun,
      request,
      RerunReply,
      'asking again is safe (a repeat is refused with 409 once the first took effect)',
    );
    return { rerun: reply.rerun };
  }

  /** Writes an experiment and its ticket. */
  createExperiment(request: CreateExperiment) {
    return this.ask(
      Subjects.experimentCreate,
      request,
      CreateExperimentReply,
      'the experiment may have been written: look for it with GET /experiments before starting it again',
    );
  }

  /** Deletes a final ticket; the runs whose artifacts are to be removed. */
  deleteTicket(request: DeleteTicketRequest) {
    return this.ask(
      Subjects.ticketDelete,
      request,
      DeleteTicketReply,
      'deleting again is safe (404 once the first took effect)',
    );
  }

  /** A person's approval, rejection or answer on a waiting task. */
  actOnTask(command: TaskCommand) {
    return this.ask(
      Subjects.taskCommand,
      command,
      TaskCommandReply,
      'asking again is safe (a repeat is refused with 409 once the first took effect)',
    );
  }

  private async ask<S extends z.ZodType<Reply>>(
    subject: Subject,
    payload: unknown,
    schema: S,
    retry: string,
  ): Promise<Extract<z.output<S>, { ok: true }>> {
    const reply = await this.bus
      .request(subject, payload, schema, this.config.GATEWAY_COMMAND_TIMEOUT_MS)
      .catch((error: Error) => {
        throw new ApiError(
          503,
          'ORCHESTRATOR_UNAVAILABLE',
          `the orchestrator did not answer: ${error.message}; ${retry}`,
          undefined,
          RETRY_AFTER_SECONDS,
        );
      });
    if (!reply.ok) throw ApiError.fromReply(reply);
    return reply as Extract<z.output<S>, { ok: true }>;
  }
}
