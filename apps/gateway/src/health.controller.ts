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
  @ApiOperation({ summary: 'Postgres, NATS and Redis reachability; 503 names what is down' })
  async health(@Res() res: Response): Promise<void> {
    const checks = await this.probe.check();
    const down = Object.entries(checks)
      .filter(([, c]) => c.status === 'down')
      .map(([name]) => name);
    res.status(down.length ? 503 : 200).json({ status: down.length ? 'down' : 'ok', down, checks });
  }
}
