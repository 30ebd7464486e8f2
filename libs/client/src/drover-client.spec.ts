import { join } from 'node:path';
import { build } from 'esbuild';
import { API_OPERATIONS } from '@drover/contracts/api';
import { DroverApiError } from './drover-api-error';
import { DroverClient } from './drover-client';

describe(DroverClient.name, () => {
  it('bundles for a browser: it loads zod and the API contract, nothing of Node', async () => {
    const result = await build({
      entryPoints: [join(__dirname, 'index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      // The workspace's aliases (@drover/contracts/api) from the repository's tsconfig.
      tsconfig: join(__dirname, '../../../tsconfig.json'),
    });
    const ours = Object.keys(result.metafile.inputs).filter((f) => !f.includes('node_modules'));
    expect(ours.filter((f) => !/libs\/(client|contracts)\/src\//.test(f))).toEqual([]);
    // What a browser cannot load (node:crypto, node:net) lives in these, never in the bundle.
    const nodeOnly = /contracts\/src\/(secrets|network-policy|task-spec|envelope|tickets)\.ts$/;
    expect(ours.filter((f) => nodeOnly.test(f))).toEqual([]);
  });

  it('has a method for each operation, named by its operationId', () => {
    const client = new DroverClient({ baseUrl: 'http://127.0.0.1:1' });
    const missing = Object.keys(API_OPERATIONS).filter(
      (id) => typeof (client as unknown as Record<string, unknown>)[id] !== 'function',
    );
    expect(missing).toEqual([]);
  });

  it('gives the event stream as a WebSocket URL under the base URL, with its parameters', () => {
    const client = new DroverClient({ baseUrl: 'https://example.com/drover/' });
    expect(client.eventsUrl({ ticket: 't-1', since: 0 })).toBe(
      'wss://example.com/drover/events?ticket=t-1&since=0',
    );
    expect(new DroverClient({ baseUrl: 'http://127.0.0.1:8080' }).eventsUrl({ token: 'a b' })).toBe(
      'ws://127.0.0.1:8080/events?token=a+b',
    );
  });
});

describe(DroverApiError.name, () => {
  it('keeps an error answer as the API stated it', () => {
    const error = DroverApiError.fromAnswer(
      422,
      {
        error: {
          code: 'INVALID_DOCUMENT',
          message: 'priority: expected a number',
          details: [{ path: 'priority', message: 'expected a number', line: 7, column: 11 }],
        },
      },
      5,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      name: 'DroverApiError',
      status: 422,
      code: 'INVALID_DOCUMENT',
      message: 'priority: expected a number',
      details: [{ path: 'priority', message: 'expected a number', line: 7, column: 11 }],
      retryAfterSeconds: 5,
    });
  });

  it('names the status of an answer not in the API shape, with its text', () => {
    const page = DroverApiError.fromAnswer(502, '<html>Bad Gateway</html>\n');
    expect([page.code, page.message, page.details]).toEqual([
      'HTTP_502',
      '<html>Bad Gateway</html>',
      [],
    ]);
    const other = DroverApiError.fromAnswer(500, { oops: true });
    expect([other.code, other.message]).toEqual(['HTTP_500', '{"oops":true}']);
  });
});
