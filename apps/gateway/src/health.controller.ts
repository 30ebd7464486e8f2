import { Controller, Get, Res } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Needs } from './auth/access';
import { HealthProbe } from './health.probe';

@ApiTags('health')
@Needs('public')
@Controller('health')
export class HealthController {
  constructor(private readonly probe: HealthProbe) {}

  @Get()
  @ApiOperation({
    summary:
      'Postgres, NATS and Redis reachability (503 names what is down), and the runners online per pool',
  })
  async health(@Res() res: Response): Promise<void> {
    const checks = await this.probe.check();
    const down = Object.entries(checks)
      .filter(([, c]) => c.status === 'down')
      .map(([name]) => name);
    // Runners are reported, not judged: none online is a waiting reason on tasks, not an outage.
    const runners = checks.postgres.status === 'up' ? await this.probe.runners() : null;
    res
      .status(down.length ? 503 : 200)
      .json({ status: down.length ? 'down' : 'ok', down, checks, runners });
  }
}
