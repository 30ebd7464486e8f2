import { Body, Controller, Delete, Get, Param, Post, Query, Req } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { GatewayConfig } from '@drover/config';
import {
  EXPERIMENT_LIMITS,
  parseSweepTask,
  SubmitExperiment,
  SubmitTicket,
  type Issue,
} from '@drover/contracts';
import { ListExperimentsQuery } from '@drover/contracts/api';
import {
  expandSweep,
  ExperimentQueries,
  ticketProblem,
  type Caller,
  type SweepTemplate,
} from '@drover/workflow';
import { ApiError, found, parseOrThrow, requireJson } from './api-error';
import { CallerOf, Needs } from './auth/access';
import { IdParam, SubmitExperimentDto } from './dto';
import { API_KEY_SCHEME } from './openapi-document';
import { Operation } from './operation.decorator';
import { OrchestratorCommands } from './orchestrator-commands';
import { TicketRemoval } from './ticket-removal';

@ApiTags('experiments')
@ApiBearerAuth(API_KEY_SCHEME)
@Needs('viewer')
@Controller('experiments')
export class ExperimentsController {
  constructor(
    private readonly queries: ExperimentQueries,
    private readonly config: GatewayConfig,
    private readonly commands: OrchestratorCommands,
    private readonly removal: TicketRemoval,
  ) {}

  @Post()
  @Needs('member')
  @Operation('createExperiment', {
    summary:
      'Start an experiment: every task (a work order or a one-task ticket document) run by every agent x model, n_trials times; nop and oracle are baselines',
  })
  @ApiBody({ type: SubmitExperimentDto })
  @ApiResponse({ status: 201, description: 'The experiment, with its (empty) matrix' })
  @ApiResponse({
    status: 422,
    description:
      'A bad field, a document that does not parse (with its line), or a task an agent cannot run (the oracle needs a solution)',
  })
  @ApiResponse({ status: 409, description: 'The name is taken in the project' })
  async submit(@CallerOf() caller: Caller, @Body() body: unknown, @Req() req: Request) {
    requireJson(req);
    const submit = parseOrThrow(SubmitExperiment, body, 'body');
    const templates = submit.tasks.map((task, i) => templateOf(task, i));
    const expanded = expandSweep(submit, templates);
    if (!expanded.ok) throw invalid('INVALID_SWEEP', expanded.issues, 'body.');
    const { request } = expanded;
    if (request.ticket.tasks?.length && request.ticket.tasks.length > EXPERIMENT_LIMITS.cells) {
      throw new ApiError(
        422,
        'TOO_MANY_TRIALS',
        `the sweep makes ${request.ticket.tasks.length} tasks (trials and analyses); at most ${EXPERIMENT_LIMITS.cells}`,
      );
    }
    const ticket = parseOrThrow(
      SubmitTicket,
      { ...request.ticket, project: caller.projectSlug },
      'body',
    );
    const problem = ticketProblem(ticket.tasks);
    if (problem) throw ApiError.fromReply({ status: 422, error: problem });
    const reply = await this.commands.createExperiment({ ...request, ticket });
    const created = await this.queries.get(caller.projectId, reply.experimentId);
    return found(created, `experiment with id ${reply.experimentId}`);
  }

  @Get()
  @Operation('listExperiments', { summary: "The project's experiments, newest first" })
  @ApiQuery({ name: 'limit', required: false })
  async list(@CallerOf() caller: Caller, @Query() query: unknown) {
    const { limit } = parseOrThrow(
      ListExperimentsQuery(this.config.GATEWAY_MAX_PAGE_SIZE),
      query,
      'query',
    );
    return { items: await this.queries.list(caller.projectId, limit) };
  }

  @Get(':id')
  @ApiParam({ name: 'id', description: 'experiment id (UUID)' })
  @ApiResponse({ status: 404, description: 'No such experiment' })
  @Operation('getExperiment', {
    summary:
      'An experiment: pass rate, cost and tokens per agent x model, a verdict per task, every trial with its analysis',
  })
  async get(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const experiment = await this.queries.get(caller.projectId, id);
    if (!experiment) throw new ApiError(404, 'NOT_FOUND', `no experiment with id ${id}`);
    return experiment;
  }

  @Delete(':id')
  @Needs('member')
  @ApiParam({ name: 'id', description: 'experiment id (UUID)' })
  @Operation('deleteExperiment', {
    summary: 'Delete a finished experiment with its ticket, runs, logs and artifacts',
  })
  @ApiResponse({ status: 404, description: 'No such experiment' })
  @ApiResponse({
    status: 409,
    description: 'Its trials are still running: cancel its ticket first',
  })
  async remove(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const experiment = await this.queries.get(caller.projectId, id);
    if (!experiment) throw new ApiError(404, 'NOT_FOUND', `no experiment with id ${id}`);
    const deleted = await this.removal.remove(caller.projectId, experiment.ticketId);
    return { deleted: { experimentId: id, ticketId: experiment.ticketId, ...deleted } };
  }
}

/** A swept task's document as a template, or 422 naming its line. */
function templateOf(task: SubmitExperiment['tasks'][number], i: number): SweepTemplate {
  const parsed = parseSweepTask(task.document, task.format, task.name);
  const at = `tasks.${i}.document`;
  if (!parsed.ok) {
    throw invalid(
      'INVALID_DOCUMENT',
      parsed.issues.map((issue) => ({
        ...issue,
        path: issue.path ? `${at}: ${issue.path}` : at,
        message: `${task.name}${issue.line ? `:${issue.line}` : ''}: ${issue.message}`,
      })),
      'body.',
    );
  }
  const { title, description, tasks } = parsed.ticket;
  return { name: task.name, title, task: tasks[0], ...(description ? { description } : {}) };
}

function invalid(code: string, issues: readonly Issue[], prefix: string): ApiError {
  const details = issues.map((i) => ({ ...i, path: `${prefix}${i.path}` }));
  const shown = details.slice(0, 5).map((d) => d.message);
  const more = details.length > 5 ? `; and ${details.length - 5} more` : '';
  return new ApiError(422, code, `${shown.join('; ')}${more}`, details);
}
