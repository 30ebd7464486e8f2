import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

const ROOT = join(__dirname, '../../..');
const exec = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs the `drover` CLI from source against `baseUrl` with `apiKey`, as a user would. */
export function drover(baseUrl: string, apiKey: string, ...args: string[]): Promise<CliResult> {
  const tsx = join(ROOT, 'node_modules/tsx/dist/cli.mjs');
  const main = join(ROOT, 'apps/cli/src/main.ts');
  return exec(process.execPath, [tsx, '--tsconfig', 'tsconfig.json', main, ...args], {
    cwd: ROOT,
    env: { ...process.env, DROVER_API_URL: baseUrl, DROVER_API_KEY: apiKey, NO_COLOR: '1' },
    encoding: 'buffer',
  }).then(
    ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
    (error: { code: number; stdout: Buffer; stderr: Buffer }) => ({
      code: error.code,
      stdout: error.stdout,
      stderr: error.stderr.toString('utf8'),
    }),
  );
}
