import { type ModelServer, startModelServer } from './model-server';
import { type ModelScript, validateScript } from './script';
import { parseSse } from './sse';

const TOOLS_ANTHROPIC = [{ name: 'Write', input_schema: { type: 'object' } }];
const TOOLS_OPENAI = [{ type: 'function', name: 'exec_command', parameters: {} }];
const TOOLS_GEMINI = [{ functionDeclarations: [{ name: 'write_file' }] }];

let server: ModelServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(script: ModelScript): Promise<ModelServer> {
  server = await startModelServer({ script });
  return server;
}

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

/** A Messages request: `history` assistant turns so far decide whether it starts a session. */
function messagesRequest(stream: boolean, history: unknown[] = [], tools = TOOLS_ANTHROPIC) {
  return {
    model: 'claude-test',
    stream,
    max_tokens: 100,
    system: [{ type: 'text', text: 'You are scripted.' }],
    tools,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'Fix the bug' }] }, ...history],
  };
}

const toolTurn = (id: string, output: string) => [
  { role: 'assistant', content: [{ type: 'tool_use', id, name: 'Write', input: {} }] },
  {
    role: 'user',
    content: [{ type: 'tool_result', tool_use_id: id, content: [{ type: 'text', text: output }] }],
  },
];

describe('startModelServer: Anthropic Messages', () => {
  it('streams a tool call as the real API does, with the scripted usage', async () => {
    const { baseUrls, requests } = await start({
      sessions: [
        [
          {
            text: 'Writing it.',
            tool: { name: 'Write', input: { file_path: '/w/a.txt', content: 'x'.repeat(60) } },
            usage: { input: 1000, output: 42, cacheRead: 300, cacheWrite: 7 },
          },
        ],
      ],
    });
    const res = await post(`${baseUrls.anthropic}/v1/messages?beta=true`, messagesRequest(true), {
      'x-api-key': 'sk-ant-scripted',
    });

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = parseSse(res.text);
    expect(events.every((e) => e.event === (e.data as { type: string }).type)).toBe(true);
    const types = events.map((e) => e.event);
    expect(types[0]).toBe('message_start');
    expect(types.slice(-2)).toEqual(['message_delta', 'message_stop']);
    const blockEvents = types.filter((t) => t?.startsWith('content_block_start'));
    expect(blockEvents).toHaveLength(2);

    const start0 = events[0]?.data as { message: { usage: Record<string, number> } };
    expect(start0.message.usage).toEqual({
      input_tokens: 1000,
      cache_creation_input_tokens: 7,
      cache_read_input_tokens: 300,
      output_tokens: 0,
    });
    const deltas = events.map((e) => e.data as { index?: number; delta?: Record<string, string> });
    const text = deltas.filter((d) => d.delta?.type === 'text_delta').map((d) => d.delta?.text);
    expect(text.join('')).toBe('Writing it.');
    const json = deltas.filter((d) => d.delta?.type === 'input_json_delta');
    expect(json.length).toBeGreaterThan(1); // really in pieces
    expect(JSON.parse(json.map((d) => d.delta?.partial_json).join(''))).toEqual({
      file_path: '/w/a.txt',
      content: 'x'.repeat(60),
    });
    const toolStart = events.find(
      (e) => (e.data as { content_block?: { type: string } }).content_block?.type === 'tool_use',
    )?.data as { content_block: { name: string; id: string; input: unknown } };
    expect(toolStart.content_block).toMatchObject({ name: 'Write', input: {} });
    expect(toolStart.content_block.id).toMatch(/^toolu_/);
    expect(events.at(-2)?.data).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'tool_use', stop_sequence: null },
      usage: { output_tokens: 42 },
    });

    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({
      provider: 'anthropic',
      kind: 'main',
      path: '/v1/messages',
      query: { beta: 'true' },
      apiKey: 'sk-ant-scripted',
      at: { session: 0, turn: 0 },
      status: 200,
      conversation: {
        model: 'claude-test',
        stream: true,
        first: true,
        system: 'You are scripted.',
        userTexts: ['Fix the bug'],
        toolNames: ['Write'],
      },
    });
  });

  it('plays turns in order, starts a session on a first message and records tool results', async () => {
    const { baseUrls, requests, remaining } = await start({
      sessions: [
        [{ tool: { name: 'Write', input: {} } }, { text: 'Done one.' }],
        [{ text: 'Two' }],
      ],
    });
    const url = `${baseUrls.anthropic}/v1/messages`;
    await post(url, messagesRequest(false));
    const second = await post(url, messagesRequest(false, toolTurn('toolu_1', 'written')));
    expect(JSON.parse(second.text)).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'text', text: 'Done one.' }],
      stop_reason: 'end_turn',
      usage: { input_tokens: 100, output_tokens: 20 },
    });
    expect(remaining()).toEqual(['sessions[1][0]']);
    const third = await post(url, messagesRequest(false));
    expect(JSON.parse(third.text)).toMatchObject({ content: [{ text: 'Two' }] });

    expect(requests.map((r) => r.at)).toEqual([
      { session: 0, turn: 0 },
      { session: 0, turn: 1 },
      { session: 1, turn: 0 },
    ]);
    expect(requests[1]?.conversation?.toolResults).toEqual([
      { callId: 'toolu_1', name: null, output: 'written' },
    ]);
    expect(remaining()).toEqual([]);
  });

  it('answers side requests, token counts and the connectivity check without playing a turn', async () => {
    const { baseUrls, requests, remaining, problems } = await start({
      sessions: [[{ text: 'main' }]],
    });
    const side = await post(`${baseUrls.anthropic}/v1/messages`, messagesRequest(false, [], []));
    expect(JSON.parse(side.text)).toMatchObject({
      content: [{ type: 'text', text: 'OK' }],
      usage: { input_tokens: 0, output_tokens: 0 },
    });
    const count = await post(`${baseUrls.anthropic}/v1/messages/count_tokens`, { messages: [] });
    expect(JSON.parse(count.text)).toEqual({ input_tokens: expect.any(Number) as number });
    const hello = await fetch(`${baseUrls.anthropic}/api/hello`, { method: 'HEAD' });
    expect(hello.status).toBe(200);

    expect(requests.map((r) => r.kind)).toEqual(['side', 'meta', 'meta']);
    expect(remaining()).toEqual(['sessions[0][0]']);
    expect(problems).toEqual([]);
  });

  it('answers a scripted 429 with retry-after for as many requests as asked, first ones too', async () => {
    const { baseUrls, requests } = await start({
      sessions: [
        [{ status: 429, retryAfterSeconds: 7, message: 'slow down', repeat: 2 }, { text: 'ok' }],
      ],
    });
    const url = `${baseUrls.anthropic}/v1/messages`;
    const first = await post(url, messagesRequest(true));
    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('7');
    expect(JSON.parse(first.text)).toEqual({
      type: 'error',
      error: { type: 'rate_limit_error', message: 'slow down' },
    });
    // The CLI retrying its first request stays in the same session.
    expect((await post(url, messagesRequest(true))).status).toBe(429);
    const third = await post(url, messagesRequest(false));
    expect(third.status).toBe(200);
    expect(requests.map((r) => [r.status, r.at])).toEqual([
      [429, { session: 0, turn: 0 }],
      [429, { session: 0, turn: 0 }],
      [200, { session: 0, turn: 1 }],
    ]);
  });

  it('says so when the script runs out, and 404s an unknown route', async () => {
    const { baseUrls, url, problems } = await start({ sessions: [[{ text: 'only' }]] });
    await post(`${baseUrls.anthropic}/v1/messages`, messagesRequest(false));
    const over = await post(
      `${baseUrls.anthropic}/v1/messages`,
      messagesRequest(false, toolTurn('t', 'x')),
    );
    expect(over.status).toBe(500);
    expect(JSON.parse(over.text)).toMatchObject({ error: { type: 'api_error' } });
    expect((await post(`${url}/v2/other`, {})).status).toBe(404);
    expect(problems).toEqual([
      'session 0 of the script has no turn 1',
      'unknown route POST /v2/other',
    ]);
  });
});

describe('startModelServer: OpenAI Responses', () => {
  const responsesRequest = (input: unknown[]) => ({
    model: 'gpt-5.5',
    stream: true,
    instructions: 'Be Codex.',
    tools: TOOLS_OPENAI,
    input,
  });
  const userMessage = {
    type: 'message',
    role: 'user',
    content: [{ type: 'input_text', text: 'Fix it' }],
  };

  it('streams function and custom tool calls and a message, usage on response.completed', async () => {
    const { baseUrls, requests } = await start({
      sessions: [
        [
          {
            text: 'On it.',
            tools: [
              { name: 'exec_command', input: { cmd: 'cat a.txt' } },
              { name: 'apply_patch', input: '*** Begin Patch\n*** End Patch\n' },
            ],
            usage: { input: 900, output: 60, cacheRead: 100, reasoning: 15 },
          },
        ],
      ],
    });
    const res = await post(`${baseUrls.openai}/responses`, responsesRequest([userMessage]), {
      authorization: 'Bearer sk-openai-scripted',
    });
    const events = parseSse(res.text);
    const types = events.map((e) => e.event);
    expect(types[0]).toBe('response.created');
    expect(types.at(-1)).toBe('response.completed');
    expect(types.filter((t) => t === 'response.output_item.done')).toHaveLength(3);
    const sequence = events.map((e) => (e.data as { sequence_number: number }).sequence_number);
    expect(sequence).toEqual(sequence.map((_, i) => i));

    const done = events
      .filter((e) => e.event === 'response.output_item.done')
      .map((e) => (e.data as { item: Record<string, unknown> }).item);
    expect(done[0]).toMatchObject({
      type: 'message',
      role: 'assistant',
      content: [{ type: 'output_text', text: 'On it.' }],
    });
    expect(done[1]).toMatchObject({
      type: 'function_call',
      name: 'exec_command',
      arguments: '{"cmd":"cat a.txt"}',
    });
    expect(done[2]).toMatchObject({
      type: 'custom_tool_call',
      name: 'apply_patch',
      input: '*** Begin Patch\n*** End Patch\n',
    });
    const text = events
      .filter((e) => e.event === 'response.output_text.delta')
      .map((e) => (e.data as { delta: string }).delta);
    expect(text.join('')).toBe('On it.');
    const completed = events.at(-1)?.data as { response: { usage: unknown; status: string } };
    expect(completed.response.status).toBe('completed');
    expect(completed.response.usage).toEqual({
      input_tokens: 1000,
      input_tokens_details: { cached_tokens: 100 },
      output_tokens: 60,
      output_tokens_details: { reasoning_tokens: 15 },
      total_tokens: 1060,
    });
    expect(requests[0]).toMatchObject({
      provider: 'openai',
      kind: 'main',
      apiKey: 'sk-openai-scripted',
      conversation: { first: true, system: 'Be Codex.', userTexts: ['Fix it'] },
    });
  });

  it('reads tool outputs, counts code-mode tools, sends Codex to HTTP and 429s in shape', async () => {
    const { baseUrls, requests } = await start({
      sessions: [[{ text: 'a' }, { status: 429, retryAfterSeconds: 3 }]],
    });
    const ws = await fetch(`${baseUrls.openai}/responses`, {
      headers: { upgrade: 'websocket', connection: 'Upgrade' },
    }).catch(() => null);
    // undici refuses to send an upgrade request; a plain GET gets the same 426.
    const get = ws ?? (await fetch(`${baseUrls.openai}/responses`));
    expect(get.status).toBe(426);

    const codeMode = {
      ...responsesRequest([
        { type: 'additional_tools', tools: [{ type: 'namespace', tools: [{ name: 'exec' }] }] },
        userMessage,
      ]),
      tools: [],
    };
    expect((await post(`${baseUrls.openai}/responses`, codeMode)).status).toBe(200);
    const limited = await post(
      `${baseUrls.openai}/responses`,
      responsesRequest([
        userMessage,
        { type: 'function_call', call_id: 'call_1', name: 'exec_command', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_1', output: 'hello\n' },
      ]),
    );
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    expect(JSON.parse(limited.text)).toMatchObject({ error: { code: 'rate_limit_exceeded' } });
    const main = requests.filter((r) => r.kind === 'main');
    expect(main.map((r) => r.conversation?.toolNames)).toEqual([['exec'], ['exec_command']]);
    expect(main[1]?.conversation?.toolResults).toEqual([
      { callId: 'call_1', name: null, output: 'hello\n' },
    ]);
  });
});

describe('startModelServer: Gemini', () => {
  const generateRequest = (contents: unknown[], tools: unknown[] = TOOLS_GEMINI) => ({
    contents,
    systemInstruction: { parts: [{ text: 'Be Gemini.' }] },
    tools,
  });
  const userContent = { role: 'user', parts: [{ text: 'Fix it' }] };

  it('streams text then function calls, usageMetadata on the last chunk', async () => {
    const { baseUrls, requests } = await start({
      sessions: [
        [
          {
            text: 'Writing the file now, in several pieces of text.',
            tool: { name: 'write_file', input: { file_path: 'a.txt', content: 'hi' } },
            usage: { input: 500, output: 40, cacheRead: 50, reasoning: 8 },
          },
        ],
      ],
    });
    const url = `${baseUrls.gemini}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse`;
    const res = await post(url, generateRequest([userContent]), { 'x-goog-api-key': 'gm-key' });
    const chunks = parseSse(res.text).map(
      (e) =>
        e.data as {
          candidates: { content: { parts: Record<string, unknown>[] }; finishReason?: string }[];
          usageMetadata?: unknown;
        },
    );
    expect(chunks.length).toBeGreaterThan(2);
    const parts = chunks.flatMap((c) => c.candidates[0]?.content.parts ?? []);
    expect(parts.flatMap((p) => (typeof p.text === 'string' ? [p.text] : [])).join('')).toBe(
      'Writing the file now, in several pieces of text.',
    );
    expect(parts.filter((p) => p.functionCall)).toEqual([
      { functionCall: { name: 'write_file', args: { file_path: 'a.txt', content: 'hi' } } },
    ]);
    expect(chunks.filter((c) => c.usageMetadata)).toHaveLength(1);
    expect(chunks.at(-1)?.candidates[0]?.finishReason).toBe('STOP');
    expect(chunks.at(-1)?.usageMetadata).toEqual({
      promptTokenCount: 550,
      candidatesTokenCount: 32,
      thoughtsTokenCount: 8,
      cachedContentTokenCount: 50,
      totalTokenCount: 590,
    });
    expect(requests[0]).toMatchObject({
      provider: 'gemini',
      kind: 'main',
      apiKey: 'gm-key',
      conversation: { model: 'gemini-2.5-pro', stream: true, first: true, system: 'Be Gemini.' },
    });
  });

  it('answers JSON checks from their schema, reads function responses, 429s with RetryInfo', async () => {
    const { baseUrls, requests } = await start({
      sessions: [[{ text: 'a' }, { status: 429, retryAfterSeconds: 4 }]],
    });
    const url = (verb: string) => `${baseUrls.gemini}/v1beta/models/gemini-x:${verb}?key=q-key`;
    const check = await post(url('generateContent'), {
      ...generateRequest([userContent], []),
      generationConfig: {
        responseMimeType: 'application/json',
        responseJsonSchema: {
          type: 'OBJECT',
          properties: {
            reasoning: { type: 'STRING' },
            next_speaker: { type: 'STRING', enum: ['user', 'model'] },
            complexity_score: { type: 'INTEGER' },
          },
        },
      },
    });
    const answer = JSON.parse(check.text) as {
      candidates: { content: { parts: { text: string }[] } }[];
    };
    expect(JSON.parse(answer.candidates[0]?.content.parts[0]?.text ?? '')).toEqual({
      reasoning: '',
      next_speaker: 'user',
      complexity_score: 1,
    });
    expect((await post(url('generateContent'), generateRequest([userContent]))).status).toBe(200);
    const limited = await post(
      url('generateContent'),
      generateRequest([
        userContent,
        { role: 'model', parts: [{ functionCall: { name: 'read_file', args: {} } }] },
        {
          role: 'user',
          parts: [{ functionResponse: { id: 'c1', name: 'read_file', response: { output: 'x' } } }],
        },
      ]),
    );
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('4');
    expect(JSON.parse(limited.text)).toMatchObject({
      error: {
        code: 429,
        status: 'RESOURCE_EXHAUSTED',
        details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '4s' }],
      },
    });
    expect(requests.map((r) => [r.kind, r.apiKey])).toEqual([
      ['side', 'q-key'],
      ['main', 'q-key'],
      ['main', 'q-key'],
    ]);
    expect(requests[2]?.conversation?.toolResults).toEqual([
      { callId: 'c1', name: 'read_file', output: 'x' },
    ]);
  });
});

describe('validateScript', () => {
  it.each([
    [{ sessions: 'x' }, 'script.sessions must be an array'],
    [{ sessions: [[{}]] }, 'script.sessions[0][0] needs a tool, tools, text or status'],
    [{ sessions: [[], [{ tool: { name: '', input: {} } }]] }, 'script.sessions[1][0].tool.name'],
    [{ sessions: [[{ tools: [] }]] }, 'script.sessions[0][0].tools must be a non-empty array'],
    [{ sessions: [[{ status: 200 }]] }, 'script.sessions[0][0].status must be an HTTP error'],
    [{ sessions: [[{ status: 429, repeat: 0 }]] }, 'script.sessions[0][0].repeat'],
  ])('refuses %j naming the field', (script, message) => {
    expect(() => validateScript(script as unknown as ModelScript)).toThrow(message);
  });
});
