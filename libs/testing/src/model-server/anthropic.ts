import type { ServerResponse } from 'node:http';
import {
  asArray,
  asRecord,
  asString,
  type NextId,
  type ProviderCodec,
  textsOf,
  type ToolResult,
} from './provider';
import type { Answer } from './script';
import { sendJson, sendSse, type SseEvent } from './sse';

type Reply = Extract<Answer, { kind: 'reply' }>;

/** The Anthropic Messages API (`POST /v1/messages`), as Claude Code and opencode call it. */
export const anthropic: ProviderCodec = {
  read(body) {
    const request = asRecord(body);
    const messages = asArray(request.messages).map(asRecord);
    const user = messages.filter((message) => message.role === 'user');
    return {
      model: asString(request.model),
      stream: request.stream === true,
      toolNames: asArray(request.tools).flatMap((tool) => asString(asRecord(tool).name) ?? []),
      first: !messages.some((message) => message.role === 'assistant'),
      system: textsOf(request.system).join('\n'),
      userTexts: user.flatMap((message) => textsOf(message.content)),
      toolResults: user.flatMap((message) => toolResults(message.content)),
    };
  },

  send(res, answer, request, nextId) {
    if (answer.kind === 'error') return sendError(res, answer);
    const content = contentBlocks(answer, nextId);
    const message = {
      id: nextId('msg_'),
      type: 'message',
      role: 'assistant',
      model: request.model ?? 'scripted',
      content,
      stop_reason: answer.toolCalls.length ? 'tool_use' : 'end_turn',
      stop_sequence: null,
      usage: usage(answer),
    };
    if (request.stream) sendSse(res, streamEvents(message, answer));
    else sendJson(res, 200, message);
  },

  sideText: () => 'OK',
};

function toolResults(content: unknown): ToolResult[] {
  return asArray(content).flatMap((part) => {
    const block = asRecord(part);
    if (block.type !== 'tool_result') return [];
    return [
      {
        callId: String(block.tool_use_id),
        name: null,
        output: textsOf(block.content).join('\n'),
      },
    ];
  });
}

function contentBlocks(answer: Reply, nextId: NextId): Record<string, unknown>[] {
  return [
    ...(answer.text === null ? [] : [{ type: 'text', text: answer.text }]),
    ...answer.toolCalls.map((call) => ({
      type: 'tool_use',
      id: nextId('toolu_'),
      name: call.name,
      input: call.input,
    })),
  ];
}

function usage(answer: Reply) {
  return {
    input_tokens: answer.usage.input,
    cache_creation_input_tokens: answer.usage.cacheWrite,
    cache_read_input_tokens: answer.usage.cacheRead,
    output_tokens: answer.usage.output,
  };
}

/**
 * The stream the real API sends: message_start with the input usage, each block as
 * start / deltas / stop (tool input as input_json_delta pieces), then message_delta with
 * the stop reason and the cumulative output tokens, and message_stop.
 */
function streamEvents(message: Record<string, unknown>, answer: Reply): SseEvent[] {
  const blocks = message.content as Record<string, unknown>[];
  const events: SseEvent[] = [
    {
      event: 'message_start',
      data: {
        type: 'message_start',
        message: {
          ...message,
          content: [],
          stop_reason: null,
          usage: { ...usage(answer), output_tokens: 0 },
        },
      },
    },
  ];
  const event = (type: string, data: Record<string, unknown>) =>
    events.push({ event: type, data: { type, ...data } });
  blocks.forEach((block, index) => {
    if (block.type === 'text') {
      event('content_block_start', { index, content_block: { type: 'text', text: '' } });
      for (const piece of pieces(String(block.text))) {
        event('content_block_delta', { index, delta: { type: 'text_delta', text: piece } });
      }
    } else {
      event('content_block_start', { index, content_block: { ...block, input: {} } });
      for (const piece of pieces(JSON.stringify(block.input))) {
        event('content_block_delta', {
          index,
          delta: { type: 'input_json_delta', partial_json: piece },
        });
      }
    }
    event('content_block_stop', { index });
  });
  event('message_delta', {
    delta: { stop_reason: message.stop_reason, stop_sequence: null },
    usage: { output_tokens: answer.usage.output },
  });
  event('message_stop', {});
  return events;
}

/** Splits a text in a few pieces, so clients really assemble deltas. */
export function pieces(text: string, size = 24): string[] {
  if (text === '') return [''];
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  529: 'overloaded_error',
};

function sendError(res: ServerResponse, answer: Extract<Answer, { kind: 'error' }>): void {
  sendJson(
    res,
    answer.status,
    {
      type: 'error',
      error: { type: ERROR_TYPES[answer.status] ?? 'api_error', message: answer.message },
    },
    answer.retryAfterSeconds === null ? {} : { 'retry-after': String(answer.retryAfterSeconds) },
  );
}

/** `POST /v1/messages/count_tokens`: a rough count (4 characters a token) of the request. */
export function countTokens(body: unknown): { input_tokens: number } {
  return { input_tokens: Math.ceil(JSON.stringify(body ?? {}).length / 4) };
}
