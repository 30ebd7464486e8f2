import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBody, ApiOperation, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { GatewayConfig } from '@drover/config';
import { CreateTicketReply, Subjects, SubmitTicket } from '@drover/contracts';
import { NatsBus } from '@drover/messaging';
import {
  describeGraphErrors,
  InvalidCursorError,
  TicketQueries,
  validateGraph,
} from '@drover/workflow';
import { ApiError, parseOrThrow } from './api-error';
import { IdParam, ListTicketsQuery, SubmitTicketDto } from './dto';

@ApiTags('tickets')
@Controller('tickets')
export class TicketsController {
  constructor(
    private readonly bus: NatsBus,
    private readonly queries: TicketQueries,
    private readonly config: GatewayConfig,
  ) {}

  @Post()
  @HttpCode(201)
  @ApiOperation({ summary: 'Submit a ticket: tasks with depends_on references' })
  @ApiBody({ type: SubmitTicketDto })
  @ApiResponse({ status: 201, description: 'The ticket, with its tasks' })
  @ApiResponse({
    status: 422,
    description:
      'Invalid body or graph (unknown references, duplicate keys, cycles); nothing written',
  })
  @ApiResponse({ status: 415, description: 'The body is not application/json' })
  async submit(@Body() body: unknown, @Headers('content-type') contentType?: string) {
    if (!contentType || !/^application\/json\b/i.test(contentType)) {
      throw new ApiError(
        415,
        'UNSUPPORTED_MEDIA_TYPE',
        `send the ticket as application/json (got ${contentType ?? 'no content type'})`,
      );
    }
    const ticket = parseOrThrow(SubmitTicket, body, 'body');
    const graph = validateGraph(ticket.tasks);
    if (!graph.ok) {
      const details = describeGraphErrors(graph.errors);
      throw new ApiError(422, 'INVALID_GRAPH', details.map((d) => d.message).join('; '), details);
    }
    const reply = await this.bus
      .request(
        Subjects.ticketCreate,
        ticket,
        CreateTicketReply,
        this.config.GATEWAY_COMMAND_TIMEOUT_MS,
      )
      .catch((error: Error) => {
        throw new ApiError(
          503,
          'ORCHESTRATOR_UNAVAILABLE',
          `the orchestrator did not answer: ${error.message}`,
        );
      });
    if (!reply.ok) {
      throw new ApiError(reply.status, reply.error.code, reply.error.message, reply.error.details);
    }
    return this.queries.getTicket(reply.ticketId);
  }

  @Get()
  @ApiOperation({ summary: 'List tickets, newest first' })
  @ApiQuery({ name: 'status', required: false })
  @ApiQuery({ name: 'limit', required: false })
  @ApiQuery({ name: 'cursor', required: false })
  async list(@Query() query: unknown) {
    const q = parseOrThrow(ListTicketsQuery(this.config.GATEWAY_MAX_PAGE_SIZE), query, 'query');
    try {
      return await this.queries.listTickets(q);
    } catch (error) {
      if (error instanceof InvalidCursorError)
        throw new ApiError(400, 'INVALID_CURSOR', error.message);
      throw error;
    }
  }

  @Get(':id')
  @ApiOperation({ summary: 'A ticket with its tasks and their status' })
  async get(@Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const ticket = await this.queries.getTicket(id);
    if (!ticket) throw new ApiError(404, 'NOT_FOUND', `no ticket with id ${id}`);
    return ticket;
  }
}
