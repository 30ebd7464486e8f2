import type { CliAgentName } from './cli-agent';

/** The model providers CLI agents talk to. */
export const PROVIDERS = ['anthropic', 'openai', 'gemini'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

interface ProviderInfo {
  /** The variable holding its API key in the runner's environment. */
  keyEnv: string;
  /** The variable a runner sets its base URL with, and the CLIs read. */
  baseUrlEnv: string;
  /** Where its API is when no base URL is configured (host and port are what egress allows). */
  defaultUrl: string;
}

export const PROVIDER_INFO: Readonly<Record<ProviderName, ProviderInfo>> = {
  anthropic: {
    keyEnv: 'ANTHROPIC_API_KEY',
    baseUrlEnv: 'ANTHROPIC_BASE_URL',
    defaultUrl: 'https://api.anthropic.com',
  },
  openai: {
    keyEnv: 'OPENAI_API_KEY',
    baseUrlEnv: 'OPENAI_BASE_URL',
    defaultUrl: 'https://api.openai.com/v1',
  },
  gemini: {
    keyEnv: 'GEMINI_API_KEY',
    // Gemini CLI 0.61 reads it (with an API key it then authenticates as a "gateway").
    baseUrlEnv: 'GOOGLE_GEMINI_BASE_URL',
    defaultUrl: 'https://generativelanguage.googleapis.com',
  },
};

/** Base URLs a runner is configured with (ANTHROPIC_BASE_URL ...); unset ones use the default. */
export type ProviderEndpoints = Partial<Record<ProviderName, string>>;

/** The provider of each single-provider CLI; opencode and aider take theirs from the model. */
const AGENT_PROVIDER: Partial<Record<CliAgentName, ProviderName>> = {
  'claude-code': 'anthropic',
  codex: 'openai',
  'gemini-cli': 'gemini',
};

/** Model prefixes of the multi-provider CLIs: `anthropic/claude-...`, `gemini/...` (aider). */
const MODEL_PREFIX: Readonly<Record<string, ProviderName>> = {
  anthropic: 'anthropic',
  openai: 'openai',
  google: 'gemini',
  gemini: 'gemini',
};

/**
 * The providers a run of `agent` talks to: its own, or for opencode and aider
 * the one its model names (`anthropic/...`), else every provider whose key the
 * runner passes it.
 */
export function agentProviders(
  agent: CliAgentName,
  model: string | undefined,
  keys: Readonly<Record<string, string>>,
): ProviderName[] {
  const own = AGENT_PROVIDER[agent];
  if (own) return [own];
  const prefix = model?.split('/')[0]?.toLowerCase();
  const named = prefix !== undefined && model?.includes('/') ? MODEL_PREFIX[prefix] : undefined;
  if (named) return [named];
  return PROVIDERS.filter((provider) => keys[PROVIDER_INFO[provider].keyEnv]);
}

/** The base URL of `provider`: the configured one, else the provider's own. */
export function providerUrl(provider: ProviderName, endpoints: ProviderEndpoints): string {
  return endpoints[provider] ?? PROVIDER_INFO[provider].defaultUrl;
}

/**
 * The configured base URLs of `providers`, as the CLIs read them. Unset ones
 * are left out: each CLI then uses its own default, which is what egress allows.
 */
export function endpointEnv(
  providers: readonly ProviderName[],
  endpoints: ProviderEndpoints,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const provider of providers) {
    const url = endpoints[provider];
    if (url) env[PROVIDER_INFO[provider].baseUrlEnv] = url;
  }
  return env;
}
