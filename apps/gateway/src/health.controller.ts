import { Controller, Get, Res } from '@nestjs/common';
import { ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Needs } from './auth/access';
import { HealthProbe } from './health.probe';
import { Operation } from './operation.decorator';

@ApiTags('health')
@Needs('public')
@Controller('health')
export class HealthController {
  constructor(private readonly probe: HealthProbe) {}

  @Get()
  @Operation('getHealth', {
    summary:
      'Postgres, NATS and Redis reachability (503 names what is down), and the runners online per pool',
  })
  @ApiResponse({ status: 503, description: 'A dependency is down: `down` names it' })
  async health(@Res({ passthrough: true }) res: Response) {
    const checks = await this.probe.check();
    const down = (['postgres', 'nats', 'redis'] as const).filter(
      (name) => checks[name].status === 'down',
    );
    // Runners are reported, not judged: none online is a waiting reason on tasks, not an outage.
    const runners = checks.postgres.status === 'up' ? await this.probe.runners() : null;
    res.status(down.length ? 503 : 200);
    return { status: down.length ? ('down' as const) : ('ok' as const), down, checks, runners };
  }
}
