import { FEEDBACK, failureFeedback, HeadAndTail } from './verification';

describe(HeadAndTail.name, () => {
  it('keeps short output whole', () => {
    const output = new HeadAndTail();
    for (const line of ['one', 'two', 'three']) output.push(line);
    expect(output.toString()).toBe('one\ntwo\nthree');
  });

  it('keeps the head and the tail of long output and says how much is left out', () => {
    const output = new HeadAndTail();
    const total = FEEDBACK.headLines + FEEDBACK.tailLines + 1000;
    for (let i = 1; i <= total; i++) output.push(`line ${i}`);
    const lines = output.toString().split('\n');
    expect(lines[0]).toBe('line 1');
    expect(lines[FEEDBACK.headLines - 1]).toBe(`line ${FEEDBACK.headLines}`);
    expect(lines[FEEDBACK.headLines]).toBe('… (1000 lines left out) …');
    expect(lines.at(-1)).toBe(`line ${total}`);
    expect(lines).toHaveLength(FEEDBACK.headLines + FEEDBACK.tailLines + 1);
  });

  it('clips long lines and bounds the whole', () => {
    const output = new HeadAndTail();
    for (let i = 0; i < 500; i++) output.push('x'.repeat(10_000));
    const text = output.toString();
    expect(text.length).toBeLessThanOrEqual(FEEDBACK.totalChars + 50);
    expect(text).toContain('… (output clipped) …');
  });
});

describe(failureFeedback.name, () => {
  it('names the iteration, the command, how it failed and its output', () => {
    const text = failureFeedback(2, {
      result: { command: 'npm test', exitCode: 1, signal: null, passed: false, durationMs: 5 },
      output: 'expected 5, got -1',
    });
    expect(text).toContain('## Iteration 2 did not pass the acceptance checks');
    expect(text).toContain('This command failed (exit 1):');
    expect(text).toContain('npm test');
    expect(text).toContain('expected 5, got -1');
  });
});
