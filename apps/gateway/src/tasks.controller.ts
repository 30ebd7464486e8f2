import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiOperation,
  ApiParam,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { GatewayConfig } from '@drover/config';
import { TicketQueries, type Caller } from '@drover/workflow';
import { ApiError, parseOrThrow } from './api-error';
import { CallerOf, Needs } from './auth/access';
import { CancelCommand } from './cancel';
import { IdParam, LogsQuery } from './dto';

@ApiTags('tasks')
@ApiBearerAuth()
@Needs('viewer')
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
  async task(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const task = await this.queries.getTask(caller.projectId, id);
    if (!task) throw new ApiError(404, 'NOT_FOUND', `no task with id ${id}`);
    return task;
  }

  @Post('tasks/:id/cancel')
  @Needs('member')
  @ApiParam({ name: 'id', description: 'task id (UUID)' })
  @HttpCode(200)
  @ApiOperation({
    summary: 'Cancel a task: stopped if running, never retried; its dependents become BLOCKED',
  })
  @ApiResponse({ status: 200, description: 'What was cancelled and blocked, and the task now' })
  @ApiResponse({ status: 404, description: 'No such task' })
  @ApiResponse({ status: 409, description: 'The task is already final; nothing changed' })
  async cancel(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const { projectId } = caller;
    const result = await this.cancelCommand.send({ target: 'task', id, projectId });
    return { ...result, task: await this.queries.getTask(projectId, id) };
  }

  @Get('runs/:id/logs')
  @ApiParam({ name: 'id', description: 'run id (UUID)' })
  @ApiOperation({ summary: "A page of a run's log lines, from line `after`" })
  @ApiQuery({ name: 'after', required: false, description: 'first line number (0-based)' })
  @ApiQuery({ name: 'limit', required: false })
  async logs(@CallerOf() caller: Caller, @Param() params: unknown, @Query() query: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const q = parseOrThrow(LogsQuery(this.config.GATEWAY_MAX_PAGE_SIZE), query, 'query');
    const logs = await this.queries.getRunLogs(caller.projectId, id, q.after, q.limit);
    if (!logs) throw new ApiError(404, 'NOT_FOUND', `no run with id ${id}`);
    return logs;
  }

  @Get('runners')
  @ApiTags('runners')
  @ApiOperation({
    summary:
      "The runners that may take the project's work: the shared pool's and the project's own (`project`: its slug; null when shared)",
  })
  async runners(@CallerOf() caller: Caller) {
    return { items: await this.queries.listRunners(caller.projectId) };
  }
}
