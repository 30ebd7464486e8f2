import { Controller, Get } from '@nestjs/common';
import { ApiBearerAuth, ApiResponse, ApiTags } from '@nestjs/swagger';
import { providerLoads, TicketQueries, type Caller } from '@drover/workflow';
import { CallerOf, Needs } from './auth/access';
import { Operation } from './operation.decorator';
import { API_KEY_SCHEME } from './openapi-document';
import { SchedulerRequests } from './scheduler-requests';

@ApiTags('runners')
@ApiBearerAuth(API_KEY_SCHEME)
@Needs('viewer')
@Controller()
export class ProvidersController {
  constructor(
    private readonly queries: TicketQueries,
    private readonly scheduler: SchedulerRequests,
  ) {}

  @Get('providers')
  @Operation('listProviders', {
    summary:
      "Each provider's concurrency limit (the scheduler's) and its tasks dispatched or running: `running` of every project (what the limit counts), `runningInProject` the caller's",
  })
  @ApiResponse({ status: 503, description: 'No scheduler answered (SCHEDULER_UNAVAILABLE)' })
  async providers(@CallerOf() caller: Caller) {
    const [limits, active] = await Promise.all([
      this.scheduler.limits(),
      this.queries.activeByProvider(caller.projectId),
    ]);
    return { items: providerLoads(limits, active) };
  }
}
