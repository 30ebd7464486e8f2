import {
  type CliAgent,
  cliScript,
  get,
  jsonLines,
  num,
  PROMPT_ON_STDIN,
  settingsFile,
  str,
  total,
} from './cli-agent';
import { namesRefusal, statedRetryAfter } from './rate-limit';

/**
 * How Codex words a refusal it gave up on: the last HTTP status after its retries, its
 * quota message (insufficient_quota), a rate limit reported inside the stream, or the
 * usage limit of a ChatGPT plan.
 */
const CODEX_REFUSAL =
  /\blast status: (?:429|529)\b|\b429 Too Many Requests\b|^Quota exceeded\b|\bRate limit reached\b|\bhit your usage limit\b/i;

/** Its error messages: `error` events (each retry, then the last) and the failed turn's. */
function errorMessages(events: readonly unknown[]): string[] {
  return events.flatMap((event) => {
    const type = get(event, 'type');
    const message =
      type === 'error'
        ? str(get(event, 'message'))
        : type === 'turn.failed'
          ? str(get(event, 'error', 'message'))
          : null;
    return message === null ? [] : [message];
  });
}

/**
 * Written to $CODEX_HOME/config.toml (default ~/.codex) when there is none: no analytics,
 * update check, plugin or app sync (each a connection to chatgpt.com or github.com).
 */
const CODEX_CONFIG = settingsFile(
  '${CODEX_HOME:-$HOME/.codex}',
  'config.toml',
  [
    'check_for_update_on_startup = false',
    '[analytics]',
    'enabled = false',
    '[features]',
    'plugins = false',
    'remote_plugin = false',
    'apps = false',
  ].join('\n'),
);

/**
 * OpenAI Codex CLI 0.171.0: `codex exec --json -` reads the prompt from stdin and prints
 * JSONL events; the answer is the last `agent_message` item, the usage is on
 * `turn.completed` (input_tokens counts cached ones). It reports no cost. A refused
 * request is retried (over WebSocket, then 5 times over HTTPS, each after the
 * provider's retry-after) and ends in `turn.failed`; no setting bounds the retries of
 * its built-in `openai` provider.
 */
export const codex: CliAgent = {
  name: 'codex',
  binary: 'codex',
  keyEnv: ['OPENAI_API_KEY'],
  script: () =>
    cliScript(
      'exec --json --skip-git-repo-check --ephemeral --dangerously-bypass-approvals-and-sandbox',
      '--model',
      // Codex 0.171 ignores OPENAI_BASE_URL: its base URL is the `openai_base_url` setting. The
      // value is one argument (never parsed by the shell); Codex reads it as TOML and, a URL
      // not being TOML, keeps it as the literal string.
      'if [ -n "$OPENAI_BASE_URL" ]; then set -- "$@" -c "openai_base_url=$OPENAI_BASE_URL"; fi',
      CODEX_CONFIG,
      // `codex exec` takes its API key from CODEX_API_KEY only (OPENAI_API_KEY is ignored there).
      `${PROMPT_ON_STDIN} CODEX_API_KEY="$OPENAI_API_KEY" codex "$@" -`,
    ),
  parse(stdout) {
    const events = jsonLines(stdout);
    const answer = events.findLast(
      (event) =>
        get(event, 'type') === 'item.completed' && get(event, 'item', 'type') === 'agent_message',
    );
    const turns = events.filter((event) => get(event, 'type') === 'turn.completed');
    return {
      finalMessage: str(get(answer, 'item', 'text')),
      costUsd: null,
      inputTokens: total(turns.map((turn) => num(get(turn, 'usage', 'input_tokens')))),
      outputTokens: total(turns.map((turn) => num(get(turn, 'usage', 'output_tokens')))),
    };
  },
  rateLimit({ stdout }) {
    const messages = errorMessages(jsonLines(stdout));
    // The failure is the last message; earlier ones are its retries ("Reconnecting... 2/5").
    const last = messages.findLast((message) => !message.startsWith('Reconnecting...'));
    if (last === undefined || !(CODEX_REFUSAL.test(last) || namesRefusal(last))) return null;
    return { retryAfterMs: statedRetryAfter(messages) };
  },
};
