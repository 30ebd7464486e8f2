import { type AgentUsage, type CliAgent, cliScript, noUsage, total } from './cli-agent';
import { namesRefusal, statedRetryAfter } from './rate-limit';

/** How aider (through litellm) reports a provider refusing: its exception and its own words. */
const AIDER_REFUSAL =
  /\blitellm\.RateLimitError\b|The API provider has rate limited you|\bOverloadedError\b/;

/**
 * aider's usage line after each model reply (aider 0.86.2, base_coder.py): tokens as
 * `123`, `1.2k` or `12k`, the cost only for models with known prices, `session` being the
 * run's total so far.
 */
const USAGE =
  /^Tokens: (\d+(?:\.\d+)?k?) sent(?:, \d+(?:\.\d+)?k? cache (?:write|hit))*, (\d+(?:\.\d+)?k?) received\.(?: Cost: \$\d+(?:\.\d+)? message, \$(\d+(?:\.\d+)?) session\.)?/;

const count = (text: string) =>
  text.endsWith('k') ? Math.round(parseFloat(text) * 1000) : parseInt(text, 10);

/** Where the reply starts when no usage line precedes it: after the start-up banner. */
function afterBanner(stdout: readonly string[]): number {
  const banner = stdout.findIndex((line) => /^Aider v\d/.test(line));
  if (banner < 0) return 0;
  const blank = stdout.findIndex((line, i) => i > banner && line.trim() === '');
  return blank < 0 ? banner + 1 : blank + 1;
}

/**
 * aider 0.86.2 has no structured output. The prompt goes in a file under $TMPDIR
 * (`--message-file`), with the chat histories beside it rather than in the repository.
 * Tokens are the sum of its usage lines (as rounded there), the cost its last session
 * figure, the final message the text printed between the previous usage line (or the
 * banner) and the last one.
 */
export const aider: CliAgent = {
  name: 'aider',
  binary: 'aider',
  // Any of the three providers: DROVER_MODEL (e.g. `gemini/gemini-2.5-pro`) picks which.
  keyEnv: ['ANTHROPIC_API_KEY', 'OPENAI_API_KEY', 'GEMINI_API_KEY'],
  script: () =>
    [
      'd=$(mktemp -d "${TMPDIR:-/tmp}/drover-aider.XXXXXX") || exit 1',
      `trap 'rm -rf "$d"' EXIT`,
      `printf '%s' "$DROVER_PROMPT" > "$d/prompt"`,
      cliScript(
        [
          '--message-file "$d/prompt" --yes-always --no-auto-commits --no-gitignore',
          '--no-pretty --no-stream --no-analytics --no-check-update --no-show-release-notes',
          '--input-history-file "$d/input.history" --chat-history-file "$d/chat.history.md"',
        ].join(' '),
        '--model',
        // Wide enough that aider's console never wraps a usage line.
        'COLUMNS=10000 aider "$@"',
      ),
    ].join('\n'),
  parse(stdout): AgentUsage {
    const reports = stdout.flatMap((line, index) => {
      const match = USAGE.exec(line.trim());
      if (!match) return [];
      const session = match[3] as string | undefined;
      return [{ index, sent: count(match[1]), received: count(match[2]), session }];
    });
    const last = reports.at(-1);
    if (!last) return noUsage();
    const previous = reports.at(-2);
    const start = previous ? previous.index + 1 : afterBanner(stdout);
    return {
      finalMessage: stdout.slice(start, last.index).join('\n').trim() || null,
      costUsd: last.session === undefined ? null : Number(last.session),
      inputTokens: total(reports.map((report) => report.sent)),
      outputTokens: total(reports.map((report) => report.received)),
    };
  },
  rateLimit({ stdout, stderr }) {
    // After the last usage line: what came before is the model's replies, not aider's errors.
    const last = stdout.findLastIndex((line) => USAGE.test(line.trim()));
    const lines = [...stdout.slice(last + 1), ...stderr];
    const refused = lines.some((line) => AIDER_REFUSAL.test(line) || namesRefusal(line));
    return refused ? { retryAfterMs: statedRetryAfter(lines) } : null;
  },
};
