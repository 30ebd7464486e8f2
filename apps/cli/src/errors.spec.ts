import { DroverApiError, DroverNetworkError } from '@drover/client';
import { compilerLines, describeError, EXIT, exitCodeOf, UsageError } from './errors';

const invalidDocument = DroverApiError.fromAnswer(422, {
  error: {
    code: 'INVALID_DOCUMENT',
    message: 'line 7: priority: expected a number',
    details: [
      { path: 'priority', message: 'expected a number', line: 7, column: 11 },
      { path: '', message: 'the document is over 1 MiB' },
      { path: 'max_iteration', message: 'unknown field', line: 8, column: 1 },
    ],
  },
});

describe(compilerLines.name, () => {
  it('prints each problem as file:line:column: path: message', () => {
    expect(compilerLines('orders/fix.md', invalidDocument)).toEqual([
      'orders/fix.md:7:11: priority: expected a number',
      'orders/fix.md: the document is over 1 MiB',
      'orders/fix.md:8:1: max_iteration: unknown field',
    ]);
  });

  it('prints the code and message when the API gives no details', () => {
    const error = DroverApiError.fromAnswer(422, {
      error: { code: 'INVALID_PIPELINE', message: 'a cycle: a -> b -> a' },
    });
    expect(compilerLines('p.yaml', error)).toEqual([
      'p.yaml: INVALID_PIPELINE: a cycle: a -> b -> a',
    ]);
  });
});

describe(describeError.name, () => {
  it('shows an API error as the API states it, each detail indented with its line:column', () => {
    expect(describeError(invalidDocument)).toEqual([
      'drover: INVALID_DOCUMENT: line 7: priority: expected a number',
      '  priority: expected a number (7:11)',
      '  the document is over 1 MiB',
      '  max_iteration: unknown field (8:1)',
    ]);
  });

  it('names the HTTP status of an answer that is not in the API shape', () => {
    expect(describeError(DroverApiError.fromAnswer(502, '<html>Bad Gateway</html>\n'))).toEqual([
      'drover: HTTP_502: <html>Bad Gateway</html>',
    ]);
  });
});

describe(exitCodeOf.name, () => {
  it('maps refusals to 3, failures and outages to 4, and usage errors to 2', () => {
    expect(exitCodeOf(invalidDocument)).toBe(EXIT.refused);
    const notFinal = { error: { code: 'NOT_FINAL', message: 'x' } };
    expect(exitCodeOf(DroverApiError.fromAnswer(409, notFinal))).toBe(3);
    expect(exitCodeOf(DroverApiError.fromAnswer(503, {}))).toBe(EXIT.unavailable);
    expect(exitCodeOf(new DroverNetworkError('cannot reach'))).toBe(EXIT.unavailable);
    expect(exitCodeOf(new UsageError('no such file'))).toBe(EXIT.usage);
  });
});
