import { settingsFile } from './cli-agent';
import { CLI_AGENT_NAMES, CLI_AGENTS, providerKeys, type AgentUsage } from './cli-agents';

// Samples are the real CLIs' output (first recorded from claude 2.1.329 and codex-cli
// 0.169.0, the same shapes as the pinned 2.1.328 and 0.171.0 print in
// tests/integration/real-agents.int-spec.ts; gemini 0.61.0, opencode 1.18.33), each run
// against a stub provider API, trimmed of fields nobody reads; aider's follow aider
// 0.86.2's usage-line code.

const jsonl = (...events: object[]) => events.map((event) => JSON.stringify(event));
const NOTHING: AgentUsage = {
  finalMessage: null,
  costUsd: null,
  inputTokens: null,
  outputTokens: null,
};
const GARBAGE = [
  '',
  'Segmentation fault',
  '{"type":"result","result":"cut off',
  '[1,2,3]',
  'null',
  '{}',
  '{"type":"result","usage":"none","total_cost_usd":"0.5","result":42}',
];

/**
 * The `$` expansions of a shell script outside double quotes; single-quoted text is inert
 * and `$(...)` opens a new quoting context (its own expansions are checked).
 */
function unquotedExpansions(script: string): string[] {
  const found: string[] = [];
  const stack: string[] = [''];
  for (let i = 0; i < script.length; i++) {
    const c = script[i];
    const top = stack[stack.length - 1];
    if (top === "'") {
      if (c === "'") stack.pop();
    } else if (c === '\\') {
      i++;
    } else if (c === '$' && script[i + 1] === '(') {
      stack.push('(');
      i++;
    } else if (top === '"') {
      if (c === '"') stack.pop();
    } else if (c === "'" || c === '"') {
      stack.push(c);
    } else if (c === ')' && top === '(') {
      stack.pop();
    } else if (c === '$') {
      found.push(script.slice(i, i + 16));
    }
  }
  return found;
}

describe('CLI_AGENTS', () => {
  it('has one adapter per CLI, under its own name', () => {
    expect(Object.keys(CLI_AGENTS).sort()).toEqual([...CLI_AGENT_NAMES].sort());
    for (const name of CLI_AGENT_NAMES) expect(CLI_AGENTS[name].name).toBe(name);
  });

  it('checks scripts with a quoting check that catches unquoted expansions', () => {
    expect(unquotedExpansions(`claude \${DROVER_MODEL:+--model "$DROVER_MODEL"}`)).toHaveLength(1);
    expect(unquotedExpansions(`x="$(cat $f)" 'y' "$z"`)).toEqual(['$f)" \'y\' "$z"']);
    expect(unquotedExpansions(`x="$(cat "$f")" '$y' "$z"`)).toEqual([]);
  });

  describe.each(CLI_AGENT_NAMES)('%s script', (name) => {
    const { binary } = CLI_AGENTS[name];
    const script = () => CLI_AGENTS[name].script();

    it('expands values only inside double quotes', () => {
      expect(unquotedExpansions(script())).toEqual([]);
    });

    it('passes the prompt on stdin or in a file, never as an argument', () => {
      const uses = script().match(/.*\$DROVER_PROMPT.*/g) ?? [];
      expect(uses).toHaveLength(1);
      // printf is a builtin: the prompt reaches no argv on its way to a pipe or a file.
      expect(uses[0]).toMatch(/^printf '%s' "\$DROVER_PROMPT" (\| .+|> "\$d\/prompt")$/);
      expect(script()).toContain(`${binary} "$@"`);
    });

    it('adds the model flag only when DROVER_MODEL is set', () => {
      const uses = script().match(/.*\$DROVER_MODEL.*/g) ?? [];
      expect(uses).toEqual([
        'if [ -n "$DROVER_MODEL" ]; then set -- "$@" --model "$DROVER_MODEL"; fi',
      ]);
    });
  });

  describe('quiet runs: only the model API is called', () => {
    // Each CLI was run through a logging HTTP proxy against the scripted model server
    // (libs/testing/src/model-server): with these settings it connected to nothing else
    // (opencode still asks registry.npmjs.org once).
    const script = (name: (typeof CLI_AGENT_NAMES)[number]) => CLI_AGENTS[name].script();

    it("turns off Claude Code's non-essential traffic", () => {
      expect(script('claude-code')).toMatch(
        /CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 claude "\$@"$/,
      );
    });

    it("turns off opencode's update check, catalogue fetch and LSP downloads", () => {
      expect(script('opencode')).toContain(
        'export OPENCODE_DISABLE_AUTOUPDATE=1 OPENCODE_DISABLE_MODELS_FETCH=1 OPENCODE_DISABLE_LSP_DOWNLOAD=1\n',
      );
    });

    it('gives Gemini CLI settings with the API key auth type, no updates and no statistics', () => {
      const line = script('gemini-cli').split('\n')[2] ?? '';
      expect(line).toMatch(/^if \[ ! -e "\$HOME\/\.gemini\/settings\.json" \]; then /);
      const json = /'(\{.*\})'/.exec(line)?.[1] ?? '';
      expect(JSON.parse(json)).toEqual({
        security: { auth: { selectedType: 'gemini-api-key' } },
        general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
        privacy: { usageStatisticsEnabled: false },
        telemetry: { enabled: false },
      });
    });

    it('gives Codex a config without analytics, update check, plugins or apps', () => {
      expect(script('codex')).toContain(
        `if [ ! -e "\${CODEX_HOME:-$HOME/.codex}/config.toml" ]; then { mkdir -p "\${CODEX_HOME:-$HOME/.codex}" && printf '%s\\n' 'check_for_update_on_startup = false\n[analytics]\nenabled = false\n[features]\nplugins = false\nremote_plugin = false\napps = false' > "\${CODEX_HOME:-$HOME/.codex}/config.toml"; } 2>/dev/null; fi\n`,
      );
    });

    it("passes Codex the runner's OPENAI_BASE_URL as a setting (it ignores the variable), one argument", () => {
      expect(script('codex').split('\n')).toContain(
        'if [ -n "$OPENAI_BASE_URL" ]; then set -- "$@" -c "openai_base_url=$OPENAI_BASE_URL"; fi',
      );
    });

    it("adds the API version to the runner's ANTHROPIC_BASE_URL for opencode", () => {
      expect(script('opencode').split('\n')).toContain(
        'if [ -n "$ANTHROPIC_BASE_URL" ]; then export ANTHROPIC_BASE_URL="${ANTHROPIC_BASE_URL%/}/v1"; fi',
      );
    });

    it('refuses settings that would break out of their single quotes', () => {
      expect(() => settingsFile('$HOME', 'x.json', { a: "it's" })).toThrow('single quote');
    });
  });

  describe('claude-code parse', () => {
    const parse = (stdout: readonly string[]) => CLI_AGENTS['claude-code'].parse(stdout);
    const success = {
      duration_api_ms: 31,
      stop_reason: 'end_turn',
      session_id: '4f12860a-c969-4e91-94ee-a91c7959c4df',
      total_cost_usd: 0.0046949999999999995,
      usage: {
        input_tokens: 1200,
        cache_creation_input_tokens: 100,
        cache_read_input_tokens: 300,
        output_tokens: 42,
        output_tokens_details: { thinking_tokens: 0 },
        server_tool_use: { web_search_requests: 0, web_fetch_requests: 0 },
        service_tier: 'standard',
      },
      modelUsage: { 'claude-sonnet-4-5': { inputTokens: 1200, outputTokens: 42, costUSD: 0.0047 } },
      permission_denials: [],
      terminal_reason: 'completed',
      is_error: false,
      num_turns: 1,
      subtype: 'success',
      api_error_status: null,
      result: 'Done: fixed the bug in main.c.',
      type: 'result',
      duration_ms: 220,
      uuid: '9ad43ef3-48af-4000-82ad-026034b8e674',
    };

    it('reads the result object, counting cached input tokens', () => {
      expect(parse(jsonl(success))).toEqual({
        finalMessage: 'Done: fixed the bug in main.c.',
        costUsd: 0.0046949999999999995,
        inputTokens: 1600,
        outputTokens: 42,
      });
    });

    it('reads the last line of stream-json output', () => {
      const stream = jsonl(
        { type: 'system', subtype: 'init', session_id: 's', tools: ['Bash'], model: 'sonnet' },
        {
          type: 'assistant',
          message: { content: [{ type: 'text', text: 'Working on it' }] },
          session_id: 's',
        },
        success,
      );
      expect(parse(stream).finalMessage).toBe('Done: fixed the bug in main.c.');
    });

    it('reads an API error, which is a result with is_error', () => {
      const apiError = {
        ...success,
        total_cost_usd: 0,
        usage: {
          input_tokens: 0,
          cache_creation_input_tokens: 0,
          cache_read_input_tokens: 0,
          output_tokens: 0,
        },
        terminal_reason: 'api_error',
        is_error: true,
        api_error: 'connection_failed',
        result:
          'API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)',
      };
      expect(parse(jsonl(apiError))).toEqual({
        finalMessage:
          'API Error: Connection refused — a firewall or proxy may be blocking it (ECONNREFUSED)',
        costUsd: 0,
        inputTokens: 0,
        outputTokens: 0,
      });
    });

    it('reads a max-turns error, which has no result text', () => {
      const maxTurns = {
        type: 'result',
        subtype: 'error_max_turns',
        is_error: true,
        num_turns: 10,
        session_id: 's',
        total_cost_usd: 0.31,
        usage: { input_tokens: 90, output_tokens: 2100 },
      };
      expect(parse(jsonl(maxTurns))).toEqual({
        finalMessage: null,
        costUsd: 0.31,
        inputTokens: 90,
        outputTokens: 2100,
      });
    });

    it('returns nulls for garbage, nothing, or a result cut off mid-line', () => {
      expect(parse(GARBAGE)).toEqual(NOTHING);
      expect(parse([])).toEqual(NOTHING);
      expect(parse([JSON.stringify(success).slice(0, 400)])).toEqual(NOTHING);
    });
  });

  describe('codex parse', () => {
    const parse = (stdout: readonly string[]) => CLI_AGENTS.codex.parse(stdout);
    const start = [
      { type: 'thread.started', thread_id: '01a1fc50-0938-7ee3-a24a-f647c7cc5e3a' },
      {
        type: 'item.completed',
        item: {
          id: 'item_0',
          type: 'error',
          message: 'Model metadata for `gpt-5-codex` not found. Defaulting to fallback metadata.',
        },
      },
      { type: 'turn.started' },
      { type: 'error', message: 'Reconnecting... 2/5 (unexpected status 404 Not Found)' },
    ];
    const work = [
      { type: 'item.completed', item: { id: 'item_1', type: 'reasoning', text: '**Reading**' } },
      {
        type: 'item.completed',
        item: {
          id: 'item_2',
          type: 'command_execution',
          command: 'bash -lc ls',
          aggregated_output: 'main.c\n',
          exit_code: 0,
          status: 'completed',
        },
      },
      {
        type: 'item.completed',
        item: { id: 'item_3', type: 'agent_message', text: 'Looking at main.c first.' },
      },
      {
        type: 'item.completed',
        item: { id: 'item_4', type: 'agent_message', text: 'Done: fixed the bug in main.c.' },
      },
    ];
    const completed = {
      type: 'turn.completed',
      usage: {
        input_tokens: 1200,
        cached_input_tokens: 300,
        cache_write_input_tokens: 0,
        output_tokens: 42,
        reasoning_output_tokens: 10,
      },
    };

    it('reads the last agent message and the turn usage (no cost)', () => {
      expect(parse(jsonl(...start, ...work, completed))).toEqual({
        finalMessage: 'Done: fixed the bug in main.c.',
        costUsd: null,
        inputTokens: 1200,
        outputTokens: 42,
      });
    });

    it('reads a failed turn as no answer and no usage', () => {
      const failed = {
        type: 'turn.failed',
        error: { message: 'unexpected status 401 Unauthorized: invalid key' },
      };
      expect(parse(jsonl(...start, failed))).toEqual(NOTHING);
    });

    it('keeps the answer of output cut off before the turn completed', () => {
      expect(parse(jsonl(...start, ...work))).toEqual({
        ...NOTHING,
        finalMessage: 'Done: fixed the bug in main.c.',
      });
    });

    it('returns nulls for garbage', () => {
      expect(parse(GARBAGE)).toEqual(NOTHING);
    });
  });

  describe('gemini-cli parse', () => {
    const parse = (stdout: readonly string[]) => CLI_AGENTS['gemini-cli'].parse(stdout);
    const tokens = (prompt: number, candidates: number, thoughts: number, cached: number) => ({
      input: prompt - cached,
      prompt,
      candidates,
      total: prompt + candidates + thoughts,
      cached,
      thoughts,
      tool: 0,
    });
    const output = {
      session_id: 'a0d1183d-b206-43b0-98b0-6b71984741a4',
      response: 'Done: fixed the bug in main.c.',
      stats: {
        models: {
          'gemini-2.5-pro': {
            api: { totalRequests: 3, totalErrors: 0, totalLatencyMs: 4100, errorsByType: {} },
            tokens: tokens(1200, 42, 8, 300),
            roles: { main: { totalRequests: 3, tokens: tokens(1200, 42, 8, 300) } },
          },
          'gemini-2.5-flash-lite': {
            api: { totalRequests: 1, totalErrors: 0, totalLatencyMs: 300, errorsByType: {} },
            tokens: tokens(100, 5, 0, 0),
          },
        },
        tools: { totalCalls: 2, totalSuccess: 2, totalFail: 0, byName: {} },
        files: { totalLinesAdded: 1, totalLinesRemoved: 1 },
      },
    };
    // It pretty-prints its one object over many lines.
    const printed = JSON.stringify(output, null, 2).split('\n');

    it('reads the response and adds up every model, thoughts as output', () => {
      expect(parse(printed)).toEqual({
        finalMessage: 'Done: fixed the bug in main.c.',
        costUsd: null,
        inputTokens: 1300,
        outputTokens: 55,
      });
    });

    it('skips a line printed before the object', () => {
      expect(parse(['Loaded cached credentials.', ...printed]).inputTokens).toBe(1300);
    });

    it('returns nulls when it printed nothing (its errors go to stderr) or was cut off', () => {
      expect(parse([])).toEqual(NOTHING);
      expect(parse(printed.slice(0, 10))).toEqual(NOTHING);
      expect(parse(GARBAGE)).toEqual(NOTHING);
    });

    it('reads an object without stats as an answer without usage', () => {
      expect(parse(['{', '  "session_id": "s",', '  "response": "Hi"', '}'])).toEqual({
        ...NOTHING,
        finalMessage: 'Hi',
      });
    });
  });

  describe('opencode parse', () => {
    const parse = (stdout: readonly string[]) => CLI_AGENTS.opencode.parse(stdout);
    const session = { sessionID: 'ses_e03ae7c5fffejD3NncCw1HSKvH' };
    const step = (
      messageID: string,
      reason: string,
      cost: number,
      t: { input: number; output: number; reasoning: number; read: number; write: number },
    ) => ({
      type: 'step_finish',
      timestamp: 1795234569629,
      ...session,
      part: {
        id: `prt_${messageID}_finish`,
        reason,
        messageID,
        ...session,
        type: 'step-finish',
        tokens: {
          total: t.input + t.output + t.reasoning + t.read + t.write,
          input: t.input,
          output: t.output,
          reasoning: t.reasoning,
          cache: { write: t.write, read: t.read },
        },
        cost,
      },
    });
    const text = (messageID: string, value: string) => ({
      type: 'text',
      timestamp: 1795234569403,
      ...session,
      part: {
        id: `prt_${messageID}_text`,
        messageID,
        ...session,
        type: 'text',
        text: value,
        time: { start: 1795234569364, end: 1795234569382 },
      },
    });
    const events = jsonl(
      { type: 'step_start', ...session, part: { messageID: 'msg_1', type: 'step-start' } },
      text('msg_1', 'Let me look at main.c.'),
      {
        type: 'tool_use',
        ...session,
        part: { type: 'tool', tool: 'bash', state: { status: 'completed', output: 'main.c' } },
      },
      step('msg_1', 'tool-calls', 0.004, {
        input: 1000,
        output: 30,
        reasoning: 5,
        read: 0,
        write: 100,
      }),
      { type: 'step_start', ...session, part: { messageID: 'msg_2', type: 'step-start' } },
      text('msg_2', 'Done: fixed the bug in main.c.'),
      step('msg_2', 'stop', 0.004695, {
        input: 1200,
        output: 42,
        reasoning: 0,
        read: 300,
        write: 100,
      }),
    );

    it('reads the last text and adds up every step, cache and reasoning included', () => {
      const usage = parse(events);
      expect(usage).toEqual({
        finalMessage: 'Done: fixed the bug in main.c.',
        costUsd: expect.closeTo(0.008695, 9) as number,
        inputTokens: 2700,
        outputTokens: 77,
      });
    });

    it('reads an error event as no answer and no usage', () => {
      const error = {
        type: 'error',
        timestamp: 1795234583046,
        ...session,
        error: {
          name: 'APIError',
          data: { message: 'Unauthorized: invalid x-api-key', statusCode: 401 },
        },
      };
      expect(parse(jsonl(error))).toEqual(NOTHING);
    });

    it('returns nulls for garbage and keeps what came before a cut-off line', () => {
      expect(parse(GARBAGE)).toEqual(NOTHING);
      const cut = [...events.slice(0, 4), events[4].slice(0, 30)];
      expect(parse(cut)).toEqual({
        finalMessage: 'Let me look at main.c.',
        costUsd: 0.004,
        inputTokens: 1100,
        outputTokens: 35,
      });
    });
  });

  describe('aider parse', () => {
    const parse = (stdout: readonly string[]) => CLI_AGENTS.aider.parse(stdout);
    const banner = [
      'Aider v0.86.2',
      'Main model: anthropic/claude-sonnet-4-20250514 with diff edit format, infinite output',
      'Weak model: anthropic/claude-3-5-haiku-20241022',
      'Git repo: .git with 24 files',
      'Repo-map: using 4096 tokens, auto refresh',
      '',
    ];

    it('reads one reply, its tokens and the session cost', () => {
      const stdout = [
        ...banner,
        'I will add the --category option.',
        '',
        'Tokens: 3.0k sent, 42 received. Cost: $0.0063 message, $0.0063 session.',
        'Applied edit to cli.py',
      ];
      expect(parse(stdout)).toEqual({
        finalMessage: 'I will add the --category option.',
        costUsd: 0.0063,
        inputTokens: 3000,
        outputTokens: 42,
      });
    });

    it('adds up the tokens of every reply and keeps the last one as the message', () => {
      const stdout = [
        ...banner,
        'First attempt.',
        'Tokens: 12k sent, 3.2k cache write, 45k cache hit, 1.2k received. Cost: $0.12 message, $0.12 session.',
        'Applied edit to main.c',
        'Fixed the lint errors.',
        'All done.',
        'Tokens: 116 sent, 30 received. Cost: $0.0012 message, $0.12 session.',
      ];
      expect(parse(stdout)).toEqual({
        finalMessage: 'Applied edit to main.c\nFixed the lint errors.\nAll done.',
        costUsd: 0.12,
        inputTokens: 12116,
        outputTokens: 1230,
      });
    });

    it('has no cost for a model without known prices', () => {
      const stdout = [...banner, 'Hello.', 'Tokens: 116 sent, 30 received.'];
      expect(parse(stdout)).toEqual({
        finalMessage: 'Hello.',
        costUsd: null,
        inputTokens: 116,
        outputTokens: 30,
      });
    });

    it('returns nulls when aider never got a reply', () => {
      const stdout = [
        ...banner,
        'litellm.AuthenticationError: AnthropicException - invalid x-api-key',
        'The API provider is not able to authenticate you. Check your API key.',
      ];
      expect(parse(stdout)).toEqual(NOTHING);
      expect(parse(GARBAGE)).toEqual(NOTHING);
      expect(parse(['Tokens: lots sent, some received.'])).toEqual(NOTHING);
    });
  });
});

describe(providerKeys.name, () => {
  const runnerEnv = {
    ANTHROPIC_API_KEY: 'sk-ant',
    OPENAI_API_KEY: 'sk-openai',
    GEMINI_API_KEY: 'gemini',
    GOOGLE_API_KEY: 'google',
    OPENROUTER_API_KEY: 'sk-or',
    DROVER_API_KEY: 'drover',
    DATABASE_URL: 'postgresql://secret@db/drover',
    PATH: '/usr/bin',
  };

  it('picks only the key of a single-provider CLI', () => {
    expect(providerKeys('claude-code', runnerEnv)).toEqual({ ANTHROPIC_API_KEY: 'sk-ant' });
    expect(providerKeys('codex', runnerEnv)).toEqual({ OPENAI_API_KEY: 'sk-openai' });
    expect(providerKeys('gemini-cli', runnerEnv)).toEqual({ GEMINI_API_KEY: 'gemini' });
  });

  it('picks the three provider keys for the multi-provider CLIs', () => {
    const three = {
      ANTHROPIC_API_KEY: 'sk-ant',
      OPENAI_API_KEY: 'sk-openai',
      GEMINI_API_KEY: 'gemini',
    };
    expect(providerKeys('opencode', runnerEnv)).toEqual(three);
    expect(providerKeys('aider', runnerEnv)).toEqual(three);
  });

  it('leaves out keys that are unset or empty', () => {
    expect(providerKeys('aider', { OPENAI_API_KEY: '', GEMINI_API_KEY: undefined })).toEqual({});
    expect(providerKeys('claude-code', {})).toEqual({});
  });
});
