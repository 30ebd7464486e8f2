import {
  type CliAgent,
  cliScript,
  get,
  jsonDocument,
  lastJsonDocument,
  num,
  PROMPT_ON_STDIN,
  settingsFile,
  str,
  total,
} from './cli-agent';
import { namesRefusal, REFUSED_STATUSES, statedRetryAfter } from './rate-limit';

/**
 * Written to ~/.gemini/settings.json when there is none: the API key's auth type (with
 * GOOGLE_GEMINI_BASE_URL set, Gemini CLI would pick "gateway", which headless runs refuse),
 * and no update checks or usage statistics.
 */
const GEMINI_SETTINGS = settingsFile('$HOME/.gemini', 'settings.json', {
  security: { auth: { selectedType: 'gemini-api-key' } },
  general: { enableAutoUpdate: false, enableAutoUpdateNotification: false },
  privacy: { usageStatisticsEnabled: false },
  telemetry: { enabled: false },
});

/**
 * Gemini CLI 0.61.0: with stdin not a terminal it runs headless on what stdin holds;
 * `--output-format json` prints one pretty-printed object: `response` and per-model token
 * stats (`prompt` counts cached tokens, `candidates` leaves out `thoughts`). It reports no
 * cost, and its errors go to stderr: on a refusal (after up to 10 attempts, each waiting
 * at least the RetryInfo delay) an object whose `error.code` is the HTTP status and whose
 * message ends "Suggested retry after 3s.".
 */
export const geminiCli: CliAgent = {
  name: 'gemini-cli',
  binary: 'gemini',
  keyEnv: ['GEMINI_API_KEY'],
  script: () =>
    cliScript(
      // Without --skip-trust an untrusted folder turns yolo back into "default" (ask).
      '--output-format json --approval-mode yolo --skip-trust',
      '--model',
      GEMINI_SETTINGS,
      `${PROMPT_ON_STDIN} gemini "$@"`,
    ),
  parse(stdout) {
    const output = jsonDocument(stdout);
    const models = get(output, 'stats', 'models');
    const tokens =
      typeof models === 'object' && models !== null
        ? Object.values(models).map((model) => get(model, 'tokens'))
        : [];
    return {
      finalMessage: str(get(output, 'response')),
      costUsd: null,
      inputTokens: total(tokens.map((t) => num(get(t, 'prompt')))),
      outputTokens: total(
        tokens.map((t) => total([num(get(t, 'candidates')), num(get(t, 'thoughts'))])),
      ),
    };
  },
  rateLimit({ stdout, stderr }) {
    const report = get(lastJsonDocument(stderr) ?? jsonDocument(stdout), 'error');
    const code = num(get(report, 'code'));
    const message = str(get(report, 'message')) ?? '';
    const refused =
      (code !== null && REFUSED_STATUSES.includes(code)) ||
      namesRefusal(message) ||
      /^Resource has been exhausted\b/.test(message);
    return refused ? { retryAfterMs: statedRetryAfter([message]) } : null;
  },
};
