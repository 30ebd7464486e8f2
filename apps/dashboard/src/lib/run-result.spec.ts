import { readRunResult } from './run-result';

describe(readRunResult.name, () => {
  it('reads iterations, acceptance results, cost and tokens from result.json', () => {
    const result = readRunResult({
      runId: 'r',
      agent: 'claude-code',
      model: 'sonnet',
      outcome: 'SUCCEEDED',
      iterations: 2,
      acceptancePassed: true,
      filesChanged: ['a.js', 'b.js'],
      durationMs: 5300,
      costUsd: 0.0123,
      inputTokens: 1200,
      outputTokens: 340,
      pushed: { branch: 'drover/fix', commit: 'abc123' },
      iterationDetails: [
        {
          iteration: 1,
          agent: { exitCode: 0, durationMs: 2000, costUsd: 0.006, inputTokens: 600 },
          acceptance: [{ command: 'npm test', exitCode: 1, passed: false, durationMs: 900 }],
        },
        {
          iteration: 2,
          agent: { exitCode: 0, durationMs: 2100 },
          acceptance: [{ command: 'npm test', exitCode: 0, passed: true, durationMs: 800 }],
        },
      ],
    });
    expect(result).toMatchObject({
      agent: 'claude-code',
      iterations: 2,
      acceptancePassed: true,
      filesChanged: 2,
      costUsd: 0.0123,
      inputTokens: 1200,
      outputTokens: 340,
      pushed: { branch: 'drover/fix', commit: 'abc123' },
    });
    expect(result?.details.map((d) => d.acceptance.map((a) => [a.command, a.passed]))).toEqual([
      [['npm test', false]],
      [['npm test', true]],
    ]);
    expect(result?.details[0]).toMatchObject({
      costUsd: 0.006,
      inputTokens: 600,
      outputTokens: null,
    });
  });

  it('leaves out fields of the wrong type instead of showing them', () => {
    const result = readRunResult({
      iterations: '2',
      costUsd: 'free',
      pushed: { branch: 1 },
      iterationDetails: [null, { acceptance: [{ command: 7 }, 'x'] }],
    });
    expect(result).toMatchObject({ iterations: null, costUsd: null, pushed: null });
    expect(result?.details).toEqual([expect.objectContaining({ iteration: 2, acceptance: [] })]);
  });

  it('reads nothing from what is not an object', () => {
    expect(readRunResult(null)).toBeNull();
    expect(readRunResult([1])).toBeNull();
    expect(readRunResult('{}')).toBeNull();
  });
});
