#!/usr/bin/env node
import { Command } from 'commander';
import { CliConfigSchema, loadConfig } from '@drover/config';
import { createKey, createProject, listKeys, revokeKey, whoami } from './access-commands';
import { ApiError, DroverApi } from './api-client';
import { artifact, artifacts, diff } from './artifact-commands';
import { cancel, logs, runners, statusCommand, submit } from './commands';

// Exit codes: 0 success; 1 the ticket failed (submit --wait); 2 usage or input error;
// 3 the API refused the request (4xx); 4 the API or network failed (5xx, unreachable).
const EXIT = { ok: 0, ticketFailed: 1, usage: 2, refused: 3, unavailable: 4 } as const;

const program = new Command()
  .name('drover')
  .description('Submit and follow work on a Drover cluster')
  .option('--api-url <url>', 'gateway URL (env DROVER_API_URL)')
  .option('--api-key <key>', 'API key (env DROVER_API_KEY)')
  .option('--json', 'machine-readable output', false)
  .showHelpAfterError()
  .exitOverride();

function api(): DroverApi {
  const config = loadConfig(CliConfigSchema);
  const opts = program.opts<{ apiUrl?: string; apiKey?: string }>();
  return new DroverApi(opts.apiUrl ?? config.DROVER_API_URL, opts.apiKey ?? config.DROVER_API_KEY);
}
const json = () => program.opts<{ json: boolean }>().json;

let exitCode: number = EXIT.ok;
program
  .command('submit <file>')
  .description('submit a ticket (JSON); --wait follows it live and exits 1 if it fails')
  .option('--wait', 'follow the ticket until it ends', false)
  .action(async (file: string, o: { wait: boolean }) => {
    exitCode = await submit(api(), file, { json: json(), wait: o.wait });
  });
program
  .command('status [ticket]')
  .description('list recent tickets, or show one with its tasks')
  .action(async (id?: string) => {
    exitCode = await statusCommand(api(), id, { json: json() });
  });
program
  .command('runners')
  .description(
    "list the shared runners and your project's own, with their slots and last heartbeat",
  )
  .action(async () => {
    exitCode = await runners(api(), { json: json() });
  });
program
  .command('logs <run>')
  .description("print a run's log")
  .action(async (run: string) => {
    exitCode = await logs(api(), run, { json: json() });
  });
program
  .command('artifacts <run>')
  .description("list a run's artifacts (its diff, iteration logs, result.json)")
  .action(async (run: string) => {
    exitCode = await artifacts(api(), run, { json: json() });
  });
program
  .command('artifact <run> <name>')
  .description("download one of a run's artifacts (to stdout unless -o)")
  .option('-o, --output <file>', 'write to this file instead of stdout')
  .action(async (run: string, name: string, o: { output?: string }) => {
    exitCode = await artifact(api(), run, name, { json: json(), output: o.output });
  });
program
  .command('diff <run>')
  .description("print a run's diff (its workspace changes) as a patch")
  .option('-o, --output <file>', 'write to this file instead of stdout')
  .action(async (run: string, o: { output?: string }) => {
    exitCode = await diff(api(), run, { json: json(), output: o.output });
  });

program
  .command('cancel <id>')
  .description(
    'cancel a ticket (or with --task, one task): waiting work never starts, running work is stopped',
  )
  .option('--task', 'the id is a task, not a ticket', false)
  .action(async (id: string, o: { task: boolean }) => {
    exitCode = await cancel(api(), o.task ? 'task' : 'ticket', id, { json: json() });
  });

program
  .command('whoami')
  .description("the API key's project and role")
  .action(async () => {
    exitCode = await whoami(api(), { json: json() });
  });
const keys = program
  .command('keys')
  .description("list the project's API keys (admins); see also keys create|revoke")
  .action(async () => {
    exitCode = await listKeys(api(), { json: json() });
  });
keys
  .command('create <name>')
  .description('issue a key of your project; its secret is shown only once')
  .requiredOption('--role <role>', 'viewer, member or admin')
  .option('--expires <date-time>', 'when it stops working (ISO 8601), e.g. 2027-01-01T00:00:00Z')
  .action(async (name: string, o: { role: string; expires?: string }) => {
    exitCode = await createKey(api(), name, o, { json: json() });
  });
keys
  .command('revoke <id>')
  .description('revoke a key of your project: it stops working at once')
  .action(async (id: string) => {
    exitCode = await revokeKey(api(), id, { json: json() });
  });
program
  .command('projects')
  .description('manage projects (operator admins)')
  .command('create <slug>')
  .description('create a project and its first admin key')
  .option('--name <name>', 'display name (default: the slug)')
  .option('--own-runners', 'run its tasks only on its own runners (RUNNER_PROJECT=<slug>)')
  .action(async (slug: string, o: { name?: string; ownRunners?: boolean }) => {
    exitCode = await createProject(api(), slug, o, { json: json() });
  });

program
  .parseAsync(process.argv)
  .then(() => process.exit(exitCode))
  .catch((error: Error & { code?: string; exitCode?: number }) => {
    if (error.code?.startsWith('commander.')) {
      process.exit(
        error.code === 'commander.helpDisplayed' || error.code === 'commander.version'
          ? 0
          : EXIT.usage,
      );
    }
    process.stderr.write(`drover: ${error.message}\n`);
    if (error instanceof ApiError)
      process.exit(error.status >= 500 ? EXIT.unavailable : EXIT.refused);
    process.exit(error.message.startsWith('cannot reach') ? EXIT.unavailable : EXIT.usage);
  });
