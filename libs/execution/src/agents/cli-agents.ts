import { aider } from './aider.agent';
import { claudeCode } from './claude-code.agent';
import { type CliAgent, type CliAgentName } from './cli-agent';
import { codex } from './codex.agent';
import { geminiCli } from './gemini-cli.agent';
import { opencode } from './opencode.agent';

export { CLI_AGENT_NAMES, type AgentUsage, type CliAgent, type CliAgentName } from './cli-agent';

/** Each CLI's adapter: its command line, the keys it gets and how its output reads (docs/agents.md). */
export const CLI_AGENTS: Readonly<Record<CliAgentName, CliAgent>> = Object.freeze({
  'claude-code': claudeCode,
  codex,
  'gemini-cli': geminiCli,
  opencode,
  aider,
});

/** Picks only `agent`'s provider keys out of `env` (the runner's environment). */
export function providerKeys(
  agent: CliAgentName,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const keys: Record<string, string> = {};
  for (const name of CLI_AGENTS[agent].keyEnv) {
    const value = env[name];
    // An empty key is no key: the CLI then reports it missing rather than sending "".
    if (value) keys[name] = value;
  }
  return keys;
}
