import type { ServerResponse } from 'node:http';
import { pieces } from './anthropic';
import {
  asArray,
  asRecord,
  asString,
  type Conversation,
  type ProviderCodec,
  type ToolResult,
} from './provider';
import type { Answer } from './script';
import { sendJson, sendSse } from './sse';

type Reply = Extract<Answer, { kind: 'reply' }>;

/**
 * The Gemini API (`POST /v1beta/models/{model}:generateContent` and
 * `:streamGenerateContent?alt=sse`), as Gemini CLI calls it with an API key.
 */
export const gemini: ProviderCodec = {
  read(body) {
    const request = asRecord(body);
    const contents = asArray(request.contents).map(asRecord);
    const user = contents.filter((content) => content.role === 'user');
    return {
      model: null,
      stream: false,
      toolNames: asArray(request.tools).flatMap((tool) =>
        asArray(asRecord(tool).functionDeclarations).flatMap(
          (declaration) => asString(asRecord(declaration).name) ?? [],
        ),
      ),
      first: !contents.some((content) => content.role === 'model'),
      system: textsOfParts(asRecord(request.systemInstruction).parts).join('\n'),
      userTexts: user.flatMap((content) => textsOfParts(content.parts)),
      toolResults: user.flatMap((content) => asArray(content.parts).flatMap(functionResponse)),
    };
  },

  send(res, answer, request, nextId) {
    if (answer.kind === 'error') return sendError(res, answer);
    const responseId = nextId('');
    const chunk = (parts: unknown[], last: boolean) => ({
      candidates: [
        {
          content: { role: 'model', parts },
          ...(last ? { finishReason: 'STOP' } : {}),
          index: 0,
        },
      ],
      ...(last ? { usageMetadata: usageMetadata(answer) } : {}),
      modelVersion: request.model ?? 'scripted',
      responseId,
    });
    const calls = answer.toolCalls.map((call) => ({
      functionCall: { name: call.name, args: call.input },
    }));
    if (!request.stream) {
      const text = answer.text === null ? [] : [{ text: answer.text }];
      return sendJson(res, 200, chunk([...text, ...calls], true));
    }
    const texts = answer.text === null ? [] : pieces(answer.text).map((text) => [{ text }]);
    const chunks = [...texts, calls];
    sendSse(
      res,
      chunks.map((parts, i) => ({ data: chunk(parts, i === chunks.length - 1) })),
    );
  },

  /** Gemini CLI's checks (next speaker, model routing) ask for JSON of a schema. */
  sideText(_request: Conversation, body: unknown) {
    const config = asRecord(asRecord(body).generationConfig);
    const schema = config.responseJsonSchema ?? config.responseSchema;
    return config.responseMimeType === 'application/json' && schema !== undefined
      ? JSON.stringify(sampleOf(schema))
      : 'OK';
  },
};

const textsOfParts = (parts: unknown): string[] =>
  asArray(parts).flatMap((part) => asString(asRecord(part).text) ?? []);

function functionResponse(part: unknown): ToolResult[] {
  const response = asRecord(asRecord(part).functionResponse);
  if (Object.keys(response).length === 0) return [];
  const inner = asRecord(response.response);
  const output = asString(inner.output) ?? JSON.stringify(response.response ?? null);
  return [{ callId: asString(response.id) ?? '', name: asString(response.name), output }];
}

function usageMetadata(answer: Reply) {
  const { input, output, cacheRead, cacheWrite, reasoning } = answer.usage;
  const prompt = input + cacheRead + cacheWrite;
  return {
    promptTokenCount: prompt,
    candidatesTokenCount: output - reasoning,
    ...(reasoning ? { thoughtsTokenCount: reasoning } : {}),
    ...(cacheRead ? { cachedContentTokenCount: cacheRead } : {}),
    totalTokenCount: prompt + output,
  };
}

/** A value a JSON schema allows: its first enum member, empty string, minimum or 1, false, []. */
export function sampleOf(schema: unknown): unknown {
  const s = asRecord(schema);
  const enumeration = asArray(s.enum);
  if (enumeration.length) return enumeration[0];
  const type = (asString(s.type) ?? (s.properties ? 'object' : 'string')).toLowerCase();
  if (type === 'object') {
    const properties = asRecord(s.properties);
    return Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, sampleOf(v)]));
  }
  if (type === 'array') return [];
  // 1, not 0: Gemini CLI's classifier wants a score from 1.
  if (type === 'number' || type === 'integer') return typeof s.minimum === 'number' ? s.minimum : 1;
  if (type === 'boolean') return false;
  return '';
}

const STATUSES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
};

function sendError(res: ServerResponse, answer: Extract<Answer, { kind: 'error' }>): void {
  const retry = answer.retryAfterSeconds;
  sendJson(
    res,
    answer.status,
    {
      error: {
        code: answer.status,
        message: answer.message,
        status: STATUSES[answer.status] ?? 'UNKNOWN',
        ...(retry === null
          ? {}
          : {
              details: [
                { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: `${retry}s` },
              ],
            }),
      },
    },
    retry === null ? {} : { 'retry-after': String(retry) },
  );
}
