import { createHash } from 'node:crypto';
import {
  Body,
  Controller,
  Delete,
  Get,
  Param,
  Post,
  Query,
  Req,
  UploadedFile,
  UseInterceptors,
} from '@nestjs/common';
import { FileInterceptor } from '@nestjs/platform-express';
import type { Request } from 'express';
import {
  ApiBearerAuth,
  ApiBody,
  ApiHeader,
  ApiParam,
  ApiQuery,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import { GatewayConfig } from '@drover/config';
import { CreateTicketReply, Subjects } from '@drover/contracts';
import { ListTicketsQuery } from '@drover/contracts/api';
import { NatsBus } from '@drover/messaging';
import { InvalidCursorError, TicketQueries, ticketProblem, type Caller } from '@drover/workflow';
import { RETRY_AFTER_SECONDS } from './unavailable';
import { ApiError, found, parseOrThrow } from './api-error';
import { CallerOf, Needs } from './auth/access';
import { OrchestratorCommands } from './orchestrator-commands';
import { TicketRemoval } from './ticket-removal';
import { IdParam, SubmitTicketDto } from './dto';
import { API_KEY_SCHEME } from './openapi-document';
import { Operation } from './operation.decorator';
import { ticketOf, UPLOAD_FIELD, UPLOAD_LIMITS, type Upload } from './ticket-documents';

/** A request id (a UUID) derived from a project's Idempotency-Key: the same key, the same id. */
function requestIdOf(project: string, key: string): string {
  const hex = createHash('sha256').update(`${project}\n${key}`).digest('hex');
  // Shaped as a version-5-style UUID so that it passes as one.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

@ApiTags('tickets')
@ApiBearerAuth(API_KEY_SCHEME)
@Needs('viewer')
@Controller('tickets')
export class TicketsController {
  constructor(
    private readonly bus: NatsBus,
    private readonly queries: TicketQueries,
    private readonly config: GatewayConfig,
    private readonly commands: OrchestratorCommands,
    private readonly removal: TicketRemoval,
  ) {}

  @Post()
  @Needs('member')
  @UseInterceptors(FileInterceptor(UPLOAD_FIELD, { limits: UPLOAD_LIMITS }))
  @Operation('createTicket', {
    summary: 'Submit a ticket: tasks with depends_on references, or phases',
    description:
      'As application/json (below); as a Markdown work order (text/markdown: YAML front matter, the body is the prompt) or a YAML ticket (application/yaml); or any of them uploaded as multipart/form-data in the field `file` (its name, e.g. fix-add.md, gives a work order its task key). A document that does not parse gets 422 INVALID_DOCUMENT, each detail with its `line` and `column`.',
  })
  @ApiBody({ type: SubmitTicketDto })
  @ApiResponse({ status: 201, description: 'The ticket, with its tasks' })
  @ApiResponse({
    status: 422,
    description:
      'Invalid body or graph (unknown references, duplicate keys, cycles); nothing written',
  })
  @ApiResponse({
    status: 415,
    description: 'The body is not JSON, a work order, a YAML ticket or a multipart upload of one',
  })
  @ApiResponse({
    status: 413,
    description: 'The body is over the size limit, or too large to reach the orchestrator',
  })
  @ApiHeader({
    name: 'Idempotency-Key',
    required: false,
    description:
      'Up to 200 visible ASCII characters. Submitting again with the same key returns the ticket the first submission created (409 if the body differs), so a retry after a lost answer or a 503 never creates a second ticket.',
  })
  @ApiResponse({ status: 409, description: 'The Idempotency-Key was used for a different body' })
  @ApiResponse({
    status: 403,
    description: "A viewer key, or `project` names another project than the key's",
  })
  @ApiResponse({ status: 429, description: "The project's hourly task quota is spent" })
  async submit(
    @CallerOf() caller: Caller,
    @Body() body: unknown,
    @Req() req: Request,
    @UploadedFile() upload?: Upload,
  ) {
    // Read from the request, not with @Headers: the OpenAPI document would list those as required.
    const idempotencyKey = req.get('idempotency-key');
    if (idempotencyKey !== undefined && !/^[\x21-\x7e]{1,200}$/.test(idempotencyKey)) {
      throw new ApiError(
        400,
        'INVALID_IDEMPOTENCY_KEY',
        'the Idempotency-Key header must be 1 to 200 visible ASCII characters',
        [{ path: 'header.Idempotency-Key', message: 'not 1 to 200 visible ASCII characters' }],
      );
    }
    const ticket = ticketOf(req, body, upload);
    // The project is the key's; naming another one is refused, not quietly overridden.
    const named =
      upload || typeof body === 'string' ? ticket.project : (body as { project?: unknown }).project;
    // A document that names no project reads as "default": that is not naming one.
    const namedOther = named !== undefined && named !== caller.projectSlug;
    if (namedOther && !(named === 'default' && (upload || typeof body === 'string'))) {
      throw new ApiError(
        403,
        'FORBIDDEN',
        `this key belongs to project "${caller.projectSlug}"; leave "project" out or set it to that`,
        [{ path: 'body.project', message: `not the key's project` }],
      );
    }
    ticket.project = caller.projectSlug;
    const problem = ticketProblem(ticket.tasks);
    if (problem) {
      const message = problem.details?.map((d) => d.message).join('; ') ?? problem.message;
      throw new ApiError(422, problem.code, message, problem.details);
    }
    const reply = await this.bus
      .request(
        Subjects.ticketCreate,
        ticket,
        CreateTicketReply,
        this.config.GATEWAY_COMMAND_TIMEOUT_MS,
        // Without a key every submission is new; with one, its id is the key's.
        idempotencyKey ? { id: requestIdOf(ticket.project, idempotencyKey) } : {},
      )
      .catch((error: Error & { code?: string }) => {
        // Compressed, the ticket is still more than NATS carries: it was never sent.
        if (error.code === 'MAX_PAYLOAD_EXCEEDED') {
          throw new ApiError(
            413,
            'PAYLOAD_TOO_LARGE',
            'the ticket is too large to send to the orchestrator, even compressed; nothing was written',
          );
        }
        const retry = idempotencyKey
          ? 'submitting again with the same Idempotency-Key is safe'
          : 'the ticket may have been written: send an Idempotency-Key to retry safely';
        throw new ApiError(
          503,
          'ORCHESTRATOR_UNAVAILABLE',
          `the orchestrator did not answer: ${error.message}; ${retry}`,
          undefined,
          RETRY_AFTER_SECONDS,
        );
      });
    if (!reply.ok) throw ApiError.fromReply(reply);
    const created = await this.queries.getTicket(caller.projectId, reply.ticketId);
    return found(created, `ticket with id ${reply.ticketId}`);
  }

  @Get()
  @Operation('listTickets', { summary: 'List tickets, newest first' })
  @ApiQuery({ name: 'status', required: false })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  async list(@CallerOf() caller: Caller, @Query() query: unknown) {
    const q = parseOrThrow(ListTicketsQuery(this.config.GATEWAY_MAX_PAGE_SIZE), query, 'query');
    try {
      return await this.queries.listTickets(caller.projectId, q);
    } catch (error) {
      if (error instanceof InvalidCursorError)
        throw new ApiError(400, 'INVALID_CURSOR', error.message);
      throw error;
    }
  }

  @Post(':id/cancel')
  @Needs('member')
  @ApiParam({ name: 'id', description: 'ticket id (UUID)' })
  @Operation('cancelTicket', {
    summary: 'Cancel a ticket: waiting tasks never start, running ones are stopped',
  })
  @ApiResponse({ status: 200, description: 'What was cancelled, and the ticket now' })
  @ApiResponse({ status: 404, description: 'No such ticket' })
  @ApiResponse({ status: 409, description: 'The ticket is already final; nothing changed' })
  async cancel(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const { projectId } = caller;
    const result = await this.commands.cancel({ target: 'ticket', id, projectId });
    return { ...result, ticket: await this.queries.getTicket(projectId, id) };
  }

  @Post(':id/rerun')
  @Needs('member')
  @ApiParam({ name: 'id', description: 'ticket id (UUID)' })
  @Operation('rerunTicket', {
    summary: "Rerun a final ticket's tasks that did not succeed: the ticket reopens",
  })
  @ApiResponse({ status: 200, description: 'The tasks that wait to run again, and the ticket now' })
  @ApiResponse({ status: 404, description: 'No such ticket' })
  @ApiResponse({
    status: 409,
    description: 'The ticket is still running, or every task succeeded; nothing changed',
  })
  async rerun(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const { projectId } = caller;
    const result = await this.commands.rerun({ target: 'ticket', id, projectId });
    return { ...result, ticket: await this.queries.getTicket(projectId, id) };
  }

  @Delete(':id')
  @Needs('member')
  @ApiParam({ name: 'id', description: 'ticket id (UUID)' })
  @Operation('deleteTicket', {
    summary:
      'Delete a final ticket with its tasks, runs, logs, artifacts and events (`drover clean`)',
  })
  @ApiResponse({ status: 200, description: 'What was deleted' })
  @ApiResponse({ status: 404, description: 'No such ticket' })
  @ApiResponse({ status: 409, description: 'The ticket is not final: cancel it first' })
  async remove(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const { artifactsRemovedForRuns, ...deleted } = await this.removal.remove(caller.projectId, id);
    return { deleted: { ticketId: id, ...deleted }, artifactsRemovedForRuns };
  }

  @Get(':id')
  @ApiParam({ name: 'id', description: 'ticket id (UUID)' })
  @Operation('getTicket', { summary: 'A ticket with its tasks and their status' })
  @ApiResponse({ status: 404, description: 'No such ticket' })
  async get(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const ticket = await this.queries.getTicket(caller.projectId, id);
    if (!ticket) throw new ApiError(404, 'NOT_FOUND', `no ticket with id ${id}`);
    return ticket;
  }
}
