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
import { clampRetryAfter, namesRefusal, REFUSED_STATUSES, statedRetryAfter } from './rate-limit';

/** The provider's own retry-after headers, as opencode reports them with the error. */
function headerRetryAfter(headers: unknown): number | null {
  const ms = str(get(headers, 'retry-after-ms'));
  if (ms !== null && /^\d{1,9}(?:\.\d+)?$/.test(ms)) return clampRetryAfter(Number(ms));
  const seconds = str(get(headers, 'retry-after'));
  // An HTTP date is left unread: the run's backoff applies.
  if (seconds !== null && /^\d{1,9}(?:\.\d+)?$/.test(seconds)) {
    return clampRetryAfter(Number(seconds) * 1000);
  }
  return null;
}

/**
 * opencode 1.18.33: `opencode run --format json` reads the message from stdin when it is
 * not a terminal and prints JSON events; each model call ends with a `step_finish` part
 * holding its cost and tokens (input and output leave out cache and reasoning tokens).
 * The answer is the last `text` part. A refused request is retried (every few seconds,
 * honouring retry-after) and ends in an `error` event holding the provider's status code,
 * headers and body.
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
      // It reads ANTHROPIC_BASE_URL and OPENAI_BASE_URL itself, both with the API version
      // (`.../v1`): the runner's OPENAI_BASE_URL has it (OpenAI's convention), its
      // ANTHROPIC_BASE_URL does not (Claude Code's), so /v1 is added here.
      'if [ -n "$ANTHROPIC_BASE_URL" ]; then export ANTHROPIC_BASE_URL="${ANTHROPIC_BASE_URL%/}/v1"; fi',
      // Google's base URL it reads only from its config (with the API version, which
      // GOOGLE_GEMINI_BASE_URL leaves out).
      'if [ -n "$GOOGLE_GEMINI_BASE_URL" ]; then',
      '  export OPENCODE_CONFIG_CONTENT="{\\"provider\\":{\\"google\\":{\\"options\\":{\\"baseURL\\":\\"${GOOGLE_GEMINI_BASE_URL%/}/v1beta\\"}}}}"',
      'fi',
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
  rateLimit({ stdout }) {
    const error = jsonLines(stdout).findLast((event) => get(event, 'type') === 'error');
    const data = get(error, 'error', 'data');
    const status = num(get(data, 'statusCode'));
    const body = str(get(data, 'responseBody')) ?? '';
    const message = str(get(data, 'message')) ?? '';
    const refused = (status !== null && REFUSED_STATUSES.includes(status)) || namesRefusal(body);
    if (!refused) return null;
    const header = headerRetryAfter(get(data, 'responseHeaders'));
    return { retryAfterMs: header ?? statedRetryAfter([message, body]) };
  },
};
