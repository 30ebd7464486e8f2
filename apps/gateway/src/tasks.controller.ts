import { Body, Controller, Get, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { GatewayConfig } from '@drover/config';
import { AnswerBody, DecisionBody } from '@drover/contracts';
import { RunLogsQuery, type Served, type Task } from '@drover/contracts/api';
import { TicketQueries, type Caller } from '@drover/workflow';
import type { Request } from 'express';
import { ApiError, found, parseOrThrow, requireJson } from './api-error';
import { CallerOf, Needs } from './auth/access';
import { OrchestratorCommands } from './orchestrator-commands';
import { AnswerBodyDto, DecisionBodyDto, IdParam } from './dto';
import { API_KEY_SCHEME } from './openapi-document';
import { Operation } from './operation.decorator';

@ApiTags('tasks')
@ApiBearerAuth(API_KEY_SCHEME)
@Needs('viewer')
@Controller()
export class TasksController {
  constructor(
    private readonly queries: TicketQueries,
    private readonly config: GatewayConfig,
    private readonly commands: OrchestratorCommands,
  ) {}

  @Get('tasks/:id')
  @ApiParam({ name: 'id', description: 'task id (UUID)' })
  @Operation('getTask', { summary: 'A task with its runs (every attempt)' })
  @ApiResponse({ status: 404, description: 'No such task' })
  async task(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const task = await this.queries.getTask(caller.projectId, id);
    if (!task) throw new ApiError(404, 'NOT_FOUND', `no task with id ${id}`);
    return task;
  }

  @Post('tasks/:id/cancel')
  @Needs('member')
  @ApiParam({ name: 'id', description: 'task id (UUID)' })
  @Operation('cancelTask', {
    summary: 'Cancel a task: stopped if running, never retried; its dependents become BLOCKED',
  })
  @ApiResponse({ status: 200, description: 'What was cancelled and blocked, and the task now' })
  @ApiResponse({ status: 404, description: 'No such task' })
  @ApiResponse({ status: 409, description: 'The task is already final; nothing changed' })
  async cancel(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const { projectId } = caller;
    const result = await this.commands.cancel({ target: 'task', id, projectId });
    return { ...result, task: await this.queries.getTask(projectId, id) };
  }

  @Post('tasks/:id/rerun')
  @Needs('member')
  @ApiParam({ name: 'id', description: 'task id (UUID)' })
  @Operation('rerunTask', {
    summary:
      'Rerun a final task that did not succeed, as a new attempt, with its dependents that did not succeed',
  })
  @ApiResponse({ status: 200, description: 'The tasks that wait to run again, and the task now' })
  @ApiResponse({ status: 404, description: 'No such task' })
  @ApiResponse({
    status: 409,
    description: 'The task is open, succeeded, or waits for a failed dependency; nothing changed',
  })
  async rerun(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const { projectId } = caller;
    const result = await this.commands.rerun({ target: 'task', id, projectId });
    return { ...result, task: await this.queries.getTask(projectId, id) };
  }

  @Post('tasks/:id/approve')
  @Needs('member')
  @ApiParam({ name: 'id', description: 'task id (UUID)' })
  @ApiBody({ type: DecisionBodyDto, required: false })
  @Operation('approveTask', {
    summary:
      'Approve a task waiting for approval: it becomes READY (who, when and the comment are kept)',
  })
  @ApiResponse({ status: 200, description: 'The task now' })
  @ApiResponse({ status: 404, description: 'No such task' })
  @ApiResponse({
    status: 409,
    description: 'The task is not waiting for approval; nothing changed',
  })
  async approve(
    @CallerOf() caller: Caller,
    @Param() params: unknown,
    @Body() body: unknown,
    @Req() req: Request,
  ) {
    return this.decide('approve', caller, params, body, req);
  }

  @Post('tasks/:id/reject')
  @Needs('member')
  @ApiParam({ name: 'id', description: 'task id (UUID)' })
  @ApiBody({ type: DecisionBodyDto, required: false })
  @Operation('rejectTask', {
    summary:
      'Reject a task waiting for approval: it FAILS with the comment, and its dependents are blocked',
  })
  @ApiResponse({ status: 200, description: 'The task now' })
  @ApiResponse({ status: 404, description: 'No such task' })
  @ApiResponse({
    status: 409,
    description: 'The task is not waiting for approval; nothing changed',
  })
  async reject(
    @CallerOf() caller: Caller,
    @Param() params: unknown,
    @Body() body: unknown,
    @Req() req: Request,
  ) {
    return this.decide('reject', caller, params, body, req);
  }

  @Post('tasks/:id/input')
  @Needs('member')
  @ApiParam({ name: 'id', description: 'task id (UUID)' })
  @Operation('answerTaskInput', {
    summary:
      "Answer a task's input request: the value joins its env (sealed if the request is secret, never shown again) and it runs again",
  })
  @ApiBody({ type: AnswerBodyDto })
  @ApiResponse({ status: 200, description: 'The task now' })
  @ApiResponse({ status: 404, description: 'No such task' })
  @ApiResponse({ status: 409, description: 'The task is not waiting for input; nothing changed' })
  @ApiResponse({
    status: 422,
    description: 'Another variable than the one asked for, or not one of its choices',
  })
  async answer(
    @CallerOf() caller: Caller,
    @Param() params: unknown,
    @Body() body: unknown,
    @Req() req: Request,
  ) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    requireJson(req);
    const { name, value } = parseOrThrow(AnswerBody, body, 'body');
    const by = { keyId: caller.keyId, name: caller.keyName };
    await this.commands.actOnTask({
      op: 'answer',
      taskId: id,
      projectId: caller.projectId,
      by,
      name,
      value,
    });
    return found(await this.queries.getTask(caller.projectId, id), `task with id ${id}`);
  }

  private async decide(
    op: 'approve' | 'reject',
    caller: Caller,
    params: unknown,
    body: unknown,
    req: Request,
  ): Promise<Served<typeof Task>> {
    const { id } = parseOrThrow(IdParam, params, 'path');
    // A decision without a comment may come without a body; a body must be JSON.
    const sent = Number(req.get('content-length') ?? 0) > 0 || req.get('transfer-encoding');
    if (sent || req.get('content-type') !== undefined) requireJson(req);
    const { comment } = parseOrThrow(DecisionBody, body ?? {}, 'body');
    const by = { keyId: caller.keyId, name: caller.keyName };
    await this.commands.actOnTask({ op, taskId: id, projectId: caller.projectId, by, comment });
    return found(await this.queries.getTask(caller.projectId, id), `task with id ${id}`);
  }

  @Get('runs/:id/logs')
  @ApiParam({ name: 'id', description: 'run id (UUID)' })
  @Operation('getRunLogs', { summary: "A page of a run's log lines, from line `after`" })
  @ApiResponse({ status: 404, description: 'No such run' })
  @ApiQuery({ name: 'after', required: false, description: 'first line number (0-based)' })
  @ApiQuery({ name: 'limit', required: false })
  async logs(@CallerOf() caller: Caller, @Param() params: unknown, @Query() query: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const q = parseOrThrow(RunLogsQuery(this.config.GATEWAY_MAX_PAGE_SIZE), query, 'query');
    const logs = await this.queries.getRunLogs(caller.projectId, id, q.after, q.limit);
    if (!logs) throw new ApiError(404, 'NOT_FOUND', `no run with id ${id}`);
    return logs;
  }

  @Get('runners')
  @ApiTags('runners')
  @Operation('listRunners', {
    summary:
      "The runners that may take the project's work: the shared pool's and the project's own (`project`: its slug; null when shared)",
  })
  async runners(@CallerOf() caller: Caller) {
    return { items: await this.queries.listRunners(caller.projectId) };
  }
}
