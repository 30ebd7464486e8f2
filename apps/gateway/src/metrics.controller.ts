import { Controller, Get, Res } from '@nestjs/common';
import { ApiExcludeEndpoint, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ServiceMetrics } from '@drover/service-kit';
import { Needs } from './auth/access';

/** Prometheus scrapes the gateway here, on its API port, without a key (like /health). */
@ApiTags('health')
@Needs('public')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: ServiceMetrics) {}

  @Get()
  @ApiExcludeEndpoint()
  async scrape(@Res() res: Response): Promise<void> {
    const { contentType, body } = await this.metrics.scrape();
    // As prom-client spells it (Express's `type()` would reorder its parameters).
    res.status(200).setHeader('content-type', contentType).end(body);
  }
}
