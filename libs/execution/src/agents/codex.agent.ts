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
 * OpenAI Codex CLI 0.169.0: `codex exec --json -` reads the prompt from stdin and prints
 * JSONL events; the answer is the last `agent_message` item, the usage is on
 * `turn.completed` (input_tokens counts cached ones). It reports no cost.
 */
export const codex: CliAgent = {
  name: 'codex',
  binary: 'codex',
  keyEnv: ['OPENAI_API_KEY'],
  script: () =>
    cliScript(
      'exec --json --skip-git-repo-check --ephemeral --dangerously-bypass-approvals-and-sandbox',
      '--model',
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
};
