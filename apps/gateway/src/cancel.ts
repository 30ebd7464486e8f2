import { Injectable } from '@nestjs/common';
import { GatewayConfig } from '@drover/config';
import { CancelReply, Subjects, type CancelRequest } from '@drover/contracts';
import { NatsBus } from '@drover/messaging';
import { ApiError } from './api-error';

/** Asks the orchestrator to cancel a ticket or a task; its refusal becomes the HTTP answer. */
@Injectable()
export class CancelCommand {
  constructor(
    private readonly bus: NatsBus,
    private readonly config: GatewayConfig,
  ) {}

  async send(request: CancelRequest) {
    const reply = await this.bus
      .request(Subjects.cancel, request, CancelReply, this.config.GATEWAY_COMMAND_TIMEOUT_MS)
      .catch((error: Error) => {
        throw new ApiError(
          503,
          'ORCHESTRATOR_UNAVAILABLE',
          `the orchestrator did not answer: ${error.message}; cancelling again is safe`,
        );
      });
    if (!reply.ok) throw ApiError.fromReply(reply);
    return { cancelled: reply.cancelled, blocked: reply.blocked };
  }
}
