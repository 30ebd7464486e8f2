import { Controller, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import type { Caller } from '@drover/workflow';
import { CallerOf, Needs } from './auth/access';
import { EventTokens } from './auth/event-tokens';
import { API_KEY_SCHEME } from './openapi-document';
import { Operation } from './operation.decorator';

@ApiTags('events')
@ApiBearerAuth(API_KEY_SCHEME)
@Needs('viewer')
@Controller('events')
export class EventsController {
  constructor(private readonly tokens: EventTokens) {}

  @Post('token')
  @Operation('createEventToken', {
    summary: 'A single-use token to open the event stream without a header: /events?token=<token>',
  })
  issue(@CallerOf() caller: Caller) {
    return this.tokens.issue(caller.keyId);
  }
}
