import type { ServerResponse } from 'node:http';
import { pieces } from './anthropic';
import {
  asArray,
  asRecord,
  asString,
  type NextId,
  type ProviderCodec,
  textsOf,
  type ToolResult,
} from './provider';
import type { Answer, ToolCall } from './script';
import { sendJson, sendSse, type SseEvent } from './sse';

type Reply = Extract<Answer, { kind: 'reply' }>;
type Item = Record<string, unknown>;

const CALL_TYPES = ['function_call', 'custom_tool_call', 'local_shell_call'];
const OUTPUT_TYPES = ['function_call_output', 'custom_tool_call_output', 'local_shell_call_output'];

/** The OpenAI Responses API (`POST /v1/responses`), as Codex calls it (stateless, full input). */
export const openai: ProviderCodec = {
  read(body) {
    const request = asRecord(body);
    const items = asArray(request.input).map(asRecord);
    const messages = items.filter((item) => item.type === 'message' || item.role !== undefined);
    return {
      model: asString(request.model),
      stream: request.stream === true,
      toolNames: [
        ...toolNames(request.tools),
        // Codex's code-mode models get their tools in an `additional_tools` input item.
        ...items.flatMap((item) => (item.type === 'additional_tools' ? toolNames(item.tools) : [])),
      ],
      first: !items.some(
        (item) => CALL_TYPES.includes(String(item.type)) || item.role === 'assistant',
      ),
      system: asString(request.instructions) ?? '',
      userTexts: messages
        .filter((item) => item.role === 'user')
        .flatMap((item) => textsOf(item.content, ['input_text', 'text'])),
      toolResults: items.flatMap(toolResult),
    };
  },

  send(res, answer, request, nextId) {
    if (answer.kind === 'error') return sendError(res, answer);
    const output = outputItems(answer, nextId);
    const response = {
      id: nextId('resp_'),
      object: 'response',
      created_at: Math.floor(Date.now() / 1000),
      status: 'completed',
      model: request.model ?? 'scripted',
      output,
      usage: usage(answer),
    };
    if (request.stream) sendSse(res, streamEvents(response, output));
    else sendJson(res, 200, response);
  },

  sideText: () => 'OK',
};

/** Tool names, namespaces (`{ type: 'namespace', tools }`) flattened; built-ins by type. */
function toolNames(tools: unknown): string[] {
  return asArray(tools).flatMap((tool) => {
    const record = asRecord(tool);
    if (record.type === 'namespace') return toolNames(record.tools);
    return asString(record.name) ?? asString(record.type) ?? [];
  });
}

function toolResult(item: Item): ToolResult[] {
  if (!OUTPUT_TYPES.includes(String(item.type))) return [];
  const output = item.output;
  return [
    {
      callId: String(item.call_id),
      name: null,
      output:
        typeof output === 'string'
          ? output
          : textsOf(output, ['input_text', 'output_text', 'text']).join('\n'),
    },
  ];
}

function outputItems(answer: Reply, nextId: NextId): Item[] {
  const items: Item[] = [];
  if (answer.text !== null) {
    items.push({
      type: 'message',
      id: nextId('msg_'),
      role: 'assistant',
      status: 'completed',
      content: [{ type: 'output_text', text: answer.text, annotations: [] }],
    });
  }
  for (const call of answer.toolCalls) items.push(callItem(call, nextId));
  return items;
}

/** A string input is a free-form (custom) tool's call, an object a function call's arguments. */
function callItem(call: ToolCall, nextId: NextId): Item {
  const callId = nextId('call_');
  return typeof call.input === 'string'
    ? {
        type: 'custom_tool_call',
        id: nextId('ctc_'),
        call_id: callId,
        name: call.name,
        input: call.input,
        status: 'completed',
      }
    : {
        type: 'function_call',
        id: nextId('fc_'),
        call_id: callId,
        name: call.name,
        arguments: JSON.stringify(call.input),
        status: 'completed',
      };
}

function usage(answer: Reply) {
  const { input, output, cacheRead, cacheWrite, reasoning } = answer.usage;
  return {
    input_tokens: input + cacheRead + cacheWrite,
    input_tokens_details: { cached_tokens: cacheRead },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: reasoning },
    total_tokens: input + cacheRead + cacheWrite + output,
  };
}

/** response.created, then each output item as added / deltas / done, then response.completed. */
function streamEvents(response: Item, output: Item[]): SseEvent[] {
  const events: SseEvent[] = [];
  let sequence = 0;
  const event = (type: string, data: Item) =>
    events.push({ event: type, data: { type, sequence_number: sequence++, ...data } });
  const started = { ...response, status: 'in_progress', output: [], usage: null };
  event('response.created', { response: started });
  event('response.in_progress', { response: started });
  output.forEach((item, index) => {
    const base = { output_index: index, item_id: item.id };
    if (item.type === 'message') {
      const text = String(asRecord(asArray(item.content)[0]).text);
      event('response.output_item.added', {
        output_index: index,
        item: { ...item, status: 'in_progress', content: [] },
      });
      const part = { type: 'output_text', text: '', annotations: [] };
      event('response.content_part.added', { ...base, content_index: 0, part });
      for (const delta of pieces(text)) {
        event('response.output_text.delta', { ...base, content_index: 0, delta });
      }
      event('response.output_text.done', { ...base, content_index: 0, text });
      event('response.content_part.done', { ...base, content_index: 0, part: { ...part, text } });
    } else if (item.type === 'function_call') {
      event('response.output_item.added', {
        output_index: index,
        item: { ...item, status: 'in_progress', arguments: '' },
      });
      for (const delta of pieces(String(item.arguments))) {
        event('response.function_call_arguments.delta', { ...base, delta });
      }
      event('response.function_call_arguments.done', { ...base, arguments: item.arguments });
    } else {
      event('response.output_item.added', {
        output_index: index,
        item: { ...item, status: 'in_progress', input: '' },
      });
      for (const delta of pieces(String(item.input))) {
        event('response.custom_tool_call_input.delta', { ...base, delta });
      }
      event('response.custom_tool_call_input.done', { ...base, input: item.input });
    }
    event('response.output_item.done', { output_index: index, item });
  });
  event('response.completed', { response });
  return events;
}

const ERROR_CODES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'invalid_api_key',
  429: 'rate_limit_exceeded',
  500: 'server_error',
  503: 'server_is_overloaded',
};

function sendError(res: ServerResponse, answer: Extract<Answer, { kind: 'error' }>): void {
  const code = ERROR_CODES[answer.status] ?? 'server_error';
  sendJson(
    res,
    answer.status,
    {
      error: {
        message: answer.message,
        type: answer.status === 429 ? 'requests' : code,
        param: null,
        code,
      },
    },
    answer.retryAfterSeconds === null ? {} : { 'retry-after': String(answer.retryAfterSeconds) },
  );
}

/** `GET /v1/models`: the model named, in the list shape. */
export function modelList(models: readonly string[]) {
  return {
    object: 'list',
    data: models.map((id) => ({ id, object: 'model', created: 0, owned_by: 'drover-tests' })),
  };
}
