import {
  type CliAgent,
  cliScript,
  get,
  jsonLines,
  noUsage,
  num,
  PROMPT_ON_STDIN,
  str,
  total,
} from './cli-agent';
import { namesRefusal, REFUSED_STATUSES, statedRetryAfter } from './rate-limit';

const lastResult = (stdout: readonly string[]) =>
  jsonLines(stdout).findLast((event) => get(event, 'type') === 'result');

/**
 * Claude Code 2.1.328: `claude -p --output-format json` prints one result object (the last
 * line; stream-json ends with the same object). An error run is a result too, with
 * `is_error` and the error as `result`. A refused request ends as such a result with
 * `api_error_status` (429, 529) and `api_error_type` (`rate_limit_error`,
 * `overloaded_error`), after CLAUDE_CODE_MAX_RETRIES retries (default 10, each waiting
 * at least the provider's retry-after): the script allows 3.
 */
export const claudeCode: CliAgent = {
  name: 'claude-code',
  binary: 'claude',
  keyEnv: ['ANTHROPIC_API_KEY'],
  script: () =>
    cliScript(
      '-p --output-format json --dangerously-skip-permissions',
      '--model',
      // Claude Code refuses to skip permissions as root unless told it runs in a sandbox.
      // Its 10 retries on a refusal take minutes; Drover retries the run, with backoff.
      // No update checks, telemetry or error reports: only the model API is called.
      `${PROMPT_ON_STDIN} IS_SANDBOX=1 CLAUDE_CODE_MAX_RETRIES=3 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 claude "$@"`,
    ),
  parse(stdout) {
    const result = lastResult(stdout);
    if (result === undefined) return noUsage();
    const usage = get(result, 'usage');
    const input = num(get(usage, 'input_tokens'));
    return {
      finalMessage: str(get(result, 'result')),
      costUsd: num(get(result, 'total_cost_usd')),
      // input_tokens leaves out what was read from or written to the prompt cache.
      inputTokens:
        input === null
          ? null
          : total([
              input,
              num(get(usage, 'cache_creation_input_tokens')),
              num(get(usage, 'cache_read_input_tokens')),
            ]),
      outputTokens: num(get(usage, 'output_tokens')),
    };
  },
  rateLimit({ stdout }) {
    const result = lastResult(stdout);
    if (get(result, 'is_error') !== true) return null;
    const status = num(get(result, 'api_error_status'));
    const type = str(get(result, 'api_error_type'));
    const text = str(get(result, 'result')) ?? '';
    const refused =
      (status !== null && REFUSED_STATUSES.includes(status)) ||
      (type !== null && namesRefusal(type)) ||
      // An older result without the api_error fields: "API Error: 529 Overloaded. ...".
      /^API Error: (?:Request rejected \()?(?:429|529)\b/.test(text);
    return refused ? { retryAfterMs: statedRetryAfter([text]) } : null;
  },
};
