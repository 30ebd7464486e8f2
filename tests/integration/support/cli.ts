import { execFile, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { join } from 'node:path';

const ROOT = join(__dirname, '../../..');

export interface CliResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export interface CliOptions {
  /** Written to the CLI's standard input, which is then closed (closed at once without it). */
  stdin?: string;
}

/** Runs the `drover` CLI from source against `baseUrl` with `apiKey`, as a user would. */
export function drover(baseUrl: string, apiKey: string, ...args: string[]): Promise<CliResult> {
  return droverWith({}, baseUrl, apiKey, ...args);
}

/** `drover` with standard input (`drover answer <task> --stdin`). */
export function droverWith(
  options: CliOptions,
  baseUrl: string,
  apiKey: string,
  ...args: string[]
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      commandLine(args),
      { cwd: ROOT, env: cliEnv(baseUrl, apiKey), encoding: 'buffer' },
      (error, stdout, stderr) =>
        resolve({
          code: error ? ((error as { code?: number }).code ?? 1) : 0,
          stdout,
          stderr: stderr.toString('utf8'),
        }),
    );
    child.stdin?.end(options.stdin ?? '');
  });
}

/** node's arguments that run the CLI from source with `args`. */
function commandLine(args: readonly string[]): string[] {
  const tsx = join(ROOT, 'node_modules/tsx/dist/cli.mjs');
  return [tsx, '--tsconfig', 'tsconfig.json', join(ROOT, 'apps/cli/src/main.ts'), ...args];
}

function cliEnv(baseUrl: string, apiKey: string): NodeJS.ProcessEnv {
  return { ...process.env, DROVER_API_URL: baseUrl, DROVER_API_KEY: apiKey, NO_COLOR: '1' };
}

/** `drover` started with the standard streams `stdio`, for a test that reads them its own way. */
export function spawnDrover(
  stdio: StdioOptions,
  baseUrl: string,
  apiKey: string,
  ...args: string[]
): ChildProcess {
  return spawn(process.execPath, commandLine(args), {
    cwd: ROOT,
    env: cliEnv(baseUrl, apiKey),
    stdio,
  });
}
