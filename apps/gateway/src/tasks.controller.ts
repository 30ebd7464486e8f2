import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { GatewayConfig } from '@drover/config';
import { TicketQueries } from '@drover/workflow';
import { ApiError, parseOrThrow } from './api-error';
import { CancelCommand } from './cancel';
import { IdParam, LogsQuery } from './dto';

@ApiTags('tasks')
@Controller()
export class TasksController {
  constructor(
    private readonly queries: TicketQueries,
    private readonly config: GatewayConfig,
    private readonly cancelCommand: CancelCommand,
  ) {}

  @Get('tasks/:id')
  @ApiParam({ name: 'id', description: 'task id (UUID)' })
  @ApiOperation({ summary: 'A task with its runs (every attempt)' })
  async task(@Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const task = await this.queries.getTask(id);
    if (!task) throw new ApiError(404, 'NOT_FOUND', `no task with id ${id}`);
    return task;
  }

  @Post('tasks/:id/cancel')
  @ApiParam({ name: 'id', description: 'task id (UUID)' })
  @HttpCode(200)
  @ApiOperation({
    summary: 'Cancel a task: stopped if running, never retried; its dependents become BLOCKED',
  })
  @ApiResponse({ status: 200, description: 'What was cancelled and blocked, and the task now' })
  @ApiResponse({ status: 404, description: 'No such task' })
  @ApiResponse({ status: 409, description: 'The task is already final; nothing changed' })
  async cancel(@Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const result = await this.cancelCommand.send({ target: 'task', id });
    return { ...result, task: await this.queries.getTask(id) };
  }

  @Get('runs/:id/logs')
  @ApiParam({ name: 'id', description: 'run id (UUID)' })
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
