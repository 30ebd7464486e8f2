import { Controller, Get, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { ServiceMetrics } from '@drover/service-kit';
import { Needs } from './auth/access';
import { Operation } from './operation.decorator';

/** Prometheus scrapes the gateway here, on its API port, without a key (like /health). */
@ApiTags('health')
@Needs('public')
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: ServiceMetrics) {}

  @Get()
  @Operation('getMetrics', {
    summary: "The gateway's Prometheus metrics, in the text exposition format",
  })
  async scrape(@Res() res: Response): Promise<void> {
    const { contentType, body } = await this.metrics.scrape();
    // As prom-client spells it (Express's `type()` would reorder its parameters).
    res.status(200).setHeader('content-type', contentType).end(body);
  }
}
