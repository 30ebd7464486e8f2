import {
  type CliAgent,
  cliScript,
  get,
  jsonLines,
  num,
  PROMPT_ON_STDIN,
  str,
  total,
} from './cli-agent';

/**
 * opencode 1.18.33: `opencode run --format json` reads the message from stdin when it is
 * not a terminal and prints JSON events; each model call ends with a `step_finish` part
 * holding its cost and tokens (input and output leave out cache and reasoning tokens).
 * The answer is the last `text` part.
 */
export const opencode: CliAgent = {
  name: 'opencode',
  binary: 'opencode',
  // Any of the three providers: DROVER_MODEL (`provider/model`) picks which key is used.
  keyEnv: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'GEMINI_API_KEY'],
  script: () =>
    cliScript(
      'run --format json --auto',
      '--model',
      // opencode's google provider reads GOOGLE_GENERATIVE_AI_API_KEY, not GEMINI_API_KEY.
      'if [ -n "$GEMINI_API_KEY" ]; then export GOOGLE_GENERATIVE_AI_API_KEY="$GEMINI_API_KEY"; fi',
      // No update check, no models.dev catalogue fetch (its bundled one is used), no LSP downloads.
      'export OPENCODE_DISABLE_AUTOUPDATE=1 OPENCODE_DISABLE_MODELS_FETCH=1 OPENCODE_DISABLE_LSP_DOWNLOAD=1',
      `${PROMPT_ON_STDIN} opencode "$@"`,
    ),
  parse(stdout) {
    const events = jsonLines(stdout);
    const text = events.findLast((event) => get(event, 'type') === 'text');
    const steps = events
      .filter((event) => get(event, 'type') === 'step_finish')
      .map((event) => get(event, 'part'));
    const tokens = (step: unknown, ...paths: string[][]) =>
      total(paths.map((path) => num(get(step, 'tokens', ...path))));
    return {
      finalMessage: str(get(text, 'part', 'text')),
      costUsd: total(steps.map((step) => num(get(step, 'cost')))),
      inputTokens: total(
        steps.map((step) => tokens(step, ['input'], ['cache', 'read'], ['cache', 'write'])),
      ),
      outputTokens: total(steps.map((step) => tokens(step, ['output'], ['reasoning']))),
    };
  },
};
