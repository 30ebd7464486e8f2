import { Injectable } from '@nestjs/common';
import { GatewayConfig } from '@drover/config';
import { DescribeLimitsReply, Subjects } from '@drover/contracts';
import { NatsBus } from '@drover/messaging';
import { ApiError } from './api-error';
import { RETRY_AFTER_SECONDS } from './unavailable';

/** The longest a read waits for a scheduler: a page asking should not hang for long. */
const READ_TIMEOUT_MS = 3000;

/**
 * What the gateway asks a scheduler (request/reply over NATS): what only the
 * scheduler knows, its per-provider concurrency limits. Silence is a 503.
 */
@Injectable()
export class SchedulerRequests {
  constructor(
    private readonly bus: NatsBus,
    private readonly config: GatewayConfig,
  ) {}

  /** The per-provider limits, `default` among them. */
  async limits(): Promise<Record<string, number>> {
    const timeout = Math.min(READ_TIMEOUT_MS, this.config.GATEWAY_COMMAND_TIMEOUT_MS);
    const reply = await this.bus
      .request(Subjects.describeLimits, {}, DescribeLimitsReply, timeout)
      .catch((error: Error) => {
        throw new ApiError(
          503,
          'SCHEDULER_UNAVAILABLE',
          `no scheduler answered within ${timeout} ms (${error.message}): the per-provider limits are known only to a running scheduler; try again`,
          undefined,
          RETRY_AFTER_SECONDS,
        );
      });
    if (!reply.ok) throw ApiError.fromReply(reply);
    return reply.limits;
  }
}
