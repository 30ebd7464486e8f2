import { Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { SchedulerConfig } from '@drover/config';
import { DescribeLimits, Subjects, type DescribeLimitsReply } from '@drover/contracts';
import { NatsBus } from '@drover/messaging';

/**
 * Answers the gateway's question "what are the per-provider limits?" (`GET
 * /providers`): only a scheduler knows them (`--concurrency`, DROVER_CONCURRENCY).
 * Any scheduler of the queue group answers; they are meant to share one setting.
 */
@Injectable()
export class LimitsHandler implements OnApplicationBootstrap {
  constructor(
    private readonly bus: NatsBus,
    private readonly config: SchedulerConfig,
  ) {}

  onApplicationBootstrap(): void {
    const refuse = (status: number, code: string, message: string): DescribeLimitsReply => ({
      ok: false,
      status,
      error: { code, message },
    });
    this.bus.serve<typeof DescribeLimits, DescribeLimitsReply>(
      Subjects.describeLimits,
      DescribeLimits,
      () => Promise.resolve({ ok: true, limits: { ...this.config.DROVER_CONCURRENCY } }),
      {
        invalid: (reason) => refuse(422, 'INVALID_MESSAGE', reason),
        failed: () => refuse(500, 'INTERNAL', 'the scheduler failed to read its limits'),
      },
    );
  }
}
