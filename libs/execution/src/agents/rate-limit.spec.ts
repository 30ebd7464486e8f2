import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MAX_RETRY_AFTER_MS } from '@drover/contracts';
import { CLI_AGENTS, type CliAgentName } from './cli-agents';
import { durationMs, statedRetryAfter, type AgentOutput } from './rate-limit';

// The fixtures are what the real CLIs printed (claude 2.1.328, codex 0.171.0, gemini 0.61.0,
// opencode 1.18.33), each run through its adapter's script against a local server that
// answered every request 429 (or 529) with `retry-after: 3` and its provider's error body.
// Gemini's stack-trace frames ("    at ...") were cut; nothing else was changed.
const fixture = (name: string) =>
  readFileSync(join(__dirname, 'fixtures', 'rate-limit', name), 'utf8').split('\n');
const stdout = (name: string): AgentOutput => ({ stdout: fixture(name), stderr: [] });
const detect = (agent: CliAgentName, output: AgentOutput) => CLI_AGENTS[agent].rateLimit(output);
const jsonl = (...events: object[]) => events.map((event) => JSON.stringify(event));

describe(statedRetryAfter.name, () => {
  it.each([
    ['Please try again in 3s.', 3_000],
    ['Rate limit reached. Please try again in 1m20s.', 80_000],
    ['Please retry in 37.2s.', 37_200],
    ['Please try again in 250ms.', 250],
    ['try again in 3 seconds', 3_000],
    ['Suggested retry after 3s.', 3_000],
    ['retry-after: 7', 7_000],
    ['{"retry-after":"12","x":1}', 12_000],
    ['"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"41s"}]', 41_000],
  ])('reads %j as %i ms', (text, ms) => {
    expect(statedRetryAfter([text])).toBe(ms);
  });

  it('takes the last statement: the provider means the latest one', () => {
    expect(statedRetryAfter(['try again in 3s', 'x', 'try again in 5s then retry in 9s'])).toBe(
      9_000,
    );
  });

  it('clamps a wait longer than MAX_RETRY_AFTER_MS to it', () => {
    expect(statedRetryAfter(['Please try again in 9999h.'])).toBe(MAX_RETRY_AFTER_MS);
    expect(statedRetryAfter(['retry-after: 999999999'])).toBe(MAX_RETRY_AFTER_MS);
  });

  it("ignores garbage and a CLI's own backoff", () => {
    for (const text of [
      'Please try again later.',
      'try again in a moment',
      'retry-after: Wed, 21 Oct 2026 07:28:00 GMT',
      'retry-after: -3',
      'try again in NaNs',
      'Retrying after 5016ms...',
      'Retrying in 0.2 seconds...',
      'try again in 1e400s',
      '"retryDelay": "soon"',
    ]) {
      expect([text, statedRetryAfter([text])]).toEqual([text, null]);
    }
  });

  it('reads durations unit by unit', () => {
    expect(durationMs('1h2m3s')).toBe(3_723_000);
    expect(durationMs('1.5 minutes')).toBe(90_000);
    expect(durationMs('soon')).toBeNull();
  });
});

describe('rateLimit of each adapter over real CLI output', () => {
  it('claude-code: a 429 result after its retries, no wait stated', () => {
    expect(detect('claude-code', stdout('claude-code-429.stdout'))).toEqual({
      retryAfterMs: null,
    });
  });

  it('claude-code: a 529 overloaded result', () => {
    expect(detect('claude-code', stdout('claude-code-529.stdout'))).toEqual({
      retryAfterMs: null,
    });
  });

  it('codex: a turn that failed on 429 after its retries', () => {
    expect(detect('codex', stdout('codex-429.stdout'))).toEqual({ retryAfterMs: null });
  });

  it('codex: insufficient_quota, reported as "Quota exceeded"', () => {
    expect(detect('codex', stdout('codex-quota.stdout'))).toEqual({ retryAfterMs: null });
  });

  it('codex: a rate limit reported in the stream, with its wait', () => {
    const output = jsonl(
      { type: 'turn.started' },
      {
        type: 'error',
        message:
          'Rate limit reached for gpt-5 on tokens per min (TPM): Limit 30000, Used 29000. Please try again in 37.2s.',
      },
      {
        type: 'turn.failed',
        error: { message: 'Rate limit reached for gpt-5. Please try again in 37.2s.' },
      },
    );
    expect(detect('codex', { stdout: output, stderr: [] })).toEqual({ retryAfterMs: 37_200 });
  });

  it("gemini-cli: the error report on stderr with RetryInfo's delay", () => {
    const stderr = fixture('gemini-cli-429.stderr');
    expect(detect('gemini-cli', { stdout: [], stderr })).toEqual({ retryAfterMs: 3_000 });
    // A line printed after the report (a warning, a wrapper's note) does not hide it.
    const after = [...stderr, '(node:1) Warning: something'];
    expect(detect('gemini-cli', { stdout: [], stderr: after })).toEqual({ retryAfterMs: 3_000 });
  });

  it("opencode: an error event with the provider's status and retry-after header", () => {
    expect(detect('opencode', stdout('opencode-429.stdout'))).toEqual({ retryAfterMs: 3_000 });
  });

  it('aider: litellm rate-limit errors after its last reply', () => {
    const output = [
      'Aider v0.86.2',
      '',
      'litellm.RateLimitError: AnthropicException - {"type":"error","error":{"type":"rate_limit_error","message":"Please try again in 20s."}}',
      'The API provider has rate limited you. Try again later or check your quotas.',
      'Retrying in 0.2 seconds...',
    ];
    expect(detect('aider', { stdout: output, stderr: [] })).toEqual({ retryAfterMs: 20_000 });
  });
});

describe('rateLimit does not mistake other failures for a refusal', () => {
  const claudeResult = (fields: object) => jsonl({ type: 'result', ...fields });

  it('claude-code: an answer about a 429 handler, a max-turns stop, another API error', () => {
    for (const output of [
      claudeResult({
        is_error: false,
        result: 'Fixed the 429 rate_limit_error handling. API Error: 429',
      }),
      claudeResult({ is_error: true, subtype: 'error_max_turns' }),
      claudeResult({
        is_error: true,
        api_error_status: 401,
        api_error_type: 'authentication_error',
        result: 'API Error: 401 invalid x-api-key',
      }),
    ]) {
      expect(detect('claude-code', { stdout: output, stderr: [] })).toBeNull();
    }
  });

  it('codex: a failed turn for another reason, even if its answer spoke of 429', () => {
    const output = jsonl(
      {
        type: 'item.completed',
        item: {
          type: 'agent_message',
          text: 'Handled 429 Too Many Requests; quota exceeded paths too',
        },
      },
      {
        type: 'turn.failed',
        error: { message: 'unexpected status 401 Unauthorized: invalid api key' },
      },
    );
    expect(detect('codex', { stdout: output, stderr: [] })).toBeNull();
  });

  it('gemini-cli: an auth error report, and stderr without one', () => {
    const auth = JSON.stringify(
      {
        session_id: 's',
        error: { type: 'Error', message: 'Invalid auth method selected.', code: 41 },
      },
      null,
      2,
    ).split('\n');
    expect(detect('gemini-cli', { stdout: [], stderr: auth })).toBeNull();
    expect(
      detect('gemini-cli', { stdout: ['{"response":"429 handled"}'], stderr: ['boom: 429'] }),
    ).toBeNull();
  });

  it('opencode: a text part that mentions rate limits, and a 500 error', () => {
    const output = jsonl(
      { type: 'text', part: { text: 'rate_limit_error and 429 are handled now' } },
      {
        type: 'error',
        error: {
          name: 'APIError',
          data: { statusCode: 500, message: 'Internal error', responseBody: '{}' },
        },
      },
    );
    expect(detect('opencode', { stdout: output, stderr: [] })).toBeNull();
  });

  it("aider: a reply about rate limits before its usage line is the model's, not an error", () => {
    const output = [
      'Aider v0.86.2',
      '',
      'I added handling for litellm.RateLimitError and rate_limit_error.',
      'Tokens: 1.2k sent, 80 received. Cost: $0.01 message, $0.01 session.',
    ];
    expect(detect('aider', { stdout: output, stderr: [] })).toBeNull();
  });

  it.each(['claude-code', 'codex', 'gemini-cli', 'opencode', 'aider'] as const)(
    '%s: nothing, or garbage',
    (agent) => {
      expect(detect(agent, { stdout: [], stderr: [] })).toBeNull();
      const garbage = [
        '{',
        '{"type":"error"',
        'null',
        '[429]',
        '{"error":429}',
        'Segmentation fault',
      ];
      expect(detect(agent, { stdout: garbage, stderr: garbage })).toBeNull();
    },
  );
});
