import { agentProviders, endpointEnv, providerUrl } from './providers';

describe(agentProviders.name, () => {
  const keys = { ANTHROPIC_API_KEY: 'a', GEMINI_API_KEY: 'g' };

  it('gives each single-provider CLI its own provider', () => {
    expect(agentProviders('claude-code', undefined, {})).toEqual(['anthropic']);
    expect(agentProviders('codex', 'openai/gpt-5', keys)).toEqual(['openai']);
    expect(agentProviders('gemini-cli', undefined, {})).toEqual(['gemini']);
  });

  it("takes opencode's and aider's from the model's prefix, else the keys they are given", () => {
    expect(agentProviders('opencode', 'anthropic/claude-sonnet-4-5', keys)).toEqual(['anthropic']);
    expect(agentProviders('opencode', 'google/gemini-2.5-pro', keys)).toEqual(['gemini']);
    expect(agentProviders('aider', 'gemini/gemini-2.5-pro', {})).toEqual(['gemini']);
    expect(agentProviders('aider', 'openai/gpt-5', {})).toEqual(['openai']);
    expect(agentProviders('aider', 'gpt-5', keys)).toEqual(['anthropic', 'gemini']);
    expect(agentProviders('opencode', 'someone/model', keys)).toEqual(['anthropic', 'gemini']);
    expect(agentProviders('opencode', undefined, {})).toEqual([]);
  });
});

describe(endpointEnv.name, () => {
  it("passes the configured base URLs of the run's providers only, each as its CLIs read it", () => {
    const endpoints = {
      anthropic: 'https://llm.example.com/anthropic',
      gemini: 'https://llm.example.com/gemini',
    };
    expect(endpointEnv(['anthropic'], endpoints)).toEqual({
      ANTHROPIC_BASE_URL: 'https://llm.example.com/anthropic',
    });
    expect(endpointEnv(['openai', 'gemini'], endpoints)).toEqual({
      GOOGLE_GEMINI_BASE_URL: 'https://llm.example.com/gemini',
    });
    expect(endpointEnv(['openai'], {})).toEqual({});
  });

  it("falls back to each provider's own endpoint", () => {
    expect(providerUrl('anthropic', {})).toBe('https://api.anthropic.com');
    expect(providerUrl('openai', {})).toBe('https://api.openai.com/v1');
    expect(providerUrl('gemini', {})).toBe('https://generativelanguage.googleapis.com');
    expect(providerUrl('openai', { openai: 'http://gw:8080/v1' })).toBe('http://gw:8080/v1');
  });
});
