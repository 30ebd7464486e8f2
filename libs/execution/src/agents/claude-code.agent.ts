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

/**
 * Claude Code 2.1.328 (and 2.1.329): `claude -p --output-format json` prints one result object (the last
 * line; stream-json ends with the same object). An error run is a result too, with
 * `is_error` and the error as `result`.
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
      // No update checks, telemetry or error reports: only the model API is called.
      `${PROMPT_ON_STDIN} IS_SANDBOX=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 claude "$@"`,
    ),
  parse(stdout) {
    const result = jsonLines(stdout).findLast((event) => get(event, 'type') === 'result');
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
};
