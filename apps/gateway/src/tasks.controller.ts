import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { GatewayConfig } from '@drover/config';
import { TicketQueries } from '@drover/workflow';
import { ApiError, parseOrThrow } from './api-error';
import { IdParam, LogsQuery } from './dto';

@ApiTags('tasks')
@Controller()
export class TasksController {
  constructor(
    private readonly queries: TicketQueries,
    private readonly config: GatewayConfig,
  ) {}

  @Get('tasks/:id')
  @ApiOperation({ summary: 'A task with its runs (every attempt)' })
  async task(@Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const task = await this.queries.getTask(id);
    if (!task) throw new ApiError(404, 'NOT_FOUND', `no task with id ${id}`);
    return task;
  }

  @Get('runs/:id/logs')
  @ApiOperation({ summary: "A page of a run's log lines, from line `after`" })
  @ApiQuery({ name: 'after', required: false, description: 'first line number (0-based)' })
  @ApiQuery({ name: 'limit', required: false })
  async logs(@Param() params: unknown, @Query() query: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const q = parseOrThrow(LogsQuery(this.config.GATEWAY_MAX_PAGE_SIZE), query, 'query');
    const logs = await this.queries.getRunLogs(id, q.after, q.limit);
    if (!logs) throw new ApiError(404, 'NOT_FOUND', `no run with id ${id}`);
    return logs;
  }

  @Get('runners')
  @ApiTags('runners')
  @ApiOperation({ summary: 'The runner fleet: slots, status, last heartbeat' })
  async runners() {
    return { items: await this.queries.listRunners() };
  }
}
