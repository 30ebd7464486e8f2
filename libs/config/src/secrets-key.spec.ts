import { randomBytes } from 'node:crypto';
import { ConfigError, loadConfig } from './config';
import { GatewayConfigSchema, OrchestratorConfigSchema, RunnerConfigSchema } from './services';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('DROVER_SECRETS_KEY', () => {
  const key = randomBytes(32);

  it('is unset by default: secrets are then unavailable', () => {
    expect(loadConfig(OrchestratorConfigSchema, {}).DROVER_SECRETS_KEY).toBeUndefined();
    expect(loadConfig(RunnerConfigSchema, {}).DROVER_SECRETS_KEY).toBeUndefined();
  });

  it.each([
    ['base64', key.toString('base64')],
    ['base64 without padding', key.toString('base64').replace(/=+$/, '')],
    ['base64url', key.toString('base64url')],
    ['hex', key.toString('hex')],
    ['hex in capitals, with a trailing newline', `${key.toString('hex').toUpperCase()}\n`],
  ])('reads the 32 bytes from %s, for the orchestrator and the runner', (_, raw) => {
    for (const schema of [OrchestratorConfigSchema, RunnerConfigSchema]) {
      const parsed = loadConfig(schema, { DROVER_SECRETS_KEY: raw }).DROVER_SECRETS_KEY;
      expect(parsed && Buffer.from(parsed).equals(key)).toBe(true);
    }
  });

  it.each([
    ['16 bytes of base64', randomBytes(16).toString('base64')],
    ['33 bytes of hex', randomBytes(33).toString('hex')],
    ['63 hex digits', key.toString('hex').slice(1)],
    ['a passphrase', 'correct horse battery staple'],
  ])('refuses %s, naming the variable and never repeating the value', (_, raw) => {
    const problems = problemsOf(() =>
      loadConfig(OrchestratorConfigSchema, { DROVER_SECRETS_KEY: raw }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^DROVER_SECRETS_KEY: must be 32 bytes as base64 .* or hex/);
    expect(problems[0]).not.toContain(raw);
  });

  it('is not a setting of services that never see a secret', () => {
    expect(Object.keys(GatewayConfigSchema.shape)).not.toContain('DROVER_SECRETS_KEY');
  });
});
