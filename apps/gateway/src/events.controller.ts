import { Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Caller } from '@drover/workflow';
import { CallerOf, Needs } from './auth/access';
import { EventTokens } from './auth/event-tokens';

@ApiTags('events')
@ApiBearerAuth()
@Needs('viewer')
@Controller('events')
export class EventsController {
  constructor(private readonly tokens: EventTokens) {}

  @Post('token')
  @HttpCode(201)
  @ApiOperation({
    summary: 'A single-use token to open the event stream without a header: /events?token=<token>',
  })
  @ApiResponse({ status: 201, description: '`{ token, expiresAt }`' })
  issue(@CallerOf() caller: Caller) {
    return this.tokens.issue(caller.keyId);
  }
}
