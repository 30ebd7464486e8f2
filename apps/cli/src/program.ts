import { Command } from 'commander';
import { CliConfigSchema, loadConfig } from '@drover/config';
import { createKey, createProject, listKeys, revokeKey, whoami } from './access-commands';
import { DroverApi } from './api-client';
import { artifact, artifacts, diff } from './artifact-commands';
import { EXIT_CODES_HELP } from './errors';
import { logs } from './logs';
import type { Output } from './render';
import { runners, statusCommand } from './status';
import { submit } from './submit';
import { answer, cancel, clean, decide, rerun } from './task-commands';
import { UsageError } from './errors';
import {
  cleanExperiment,
  experimentsCommand,
  listOption,
  notATicket,
  submitSweep,
} from './experiments';

interface SubmitFlags {
  wait: boolean;
  agents?: string;
  models?: string;
  trials: string;
  name?: string;
  analysis?: string;
  analysisAgent?: string;
  analysisModel?: string;
}

function trialsOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--trials: a whole number from 1 (got ${value})`);
  return n;
}

/**
 * The `drover` program. Each action leaves its exit code with `setExitCode`;
 * errors are thrown to the caller (main), which maps them to exit codes.
 */
export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command()
    .name('drover')
    .description('Submit and follow work on a Drover cluster')
    .option('--api-url <url>', 'gateway URL (env DROVER_API_URL)')
    .option('--api-key <key>', 'API key (env DROVER_API_KEY)')
    .option('--json', 'machine-readable output', false)
    .showHelpAfterError()
    .exitOverride()
    .addHelpText('after', EXIT_CODES_HELP);

  // Each action gets the API (from the flags or the environment) and the output mode.
  const action: Action =
    (fn) =>
    async (...args) => {
      const config = loadConfig(CliConfigSchema);
      const o = program.opts<{ apiUrl?: string; apiKey?: string; json: boolean }>();
      const url = o.apiUrl ?? config.DROVER_API_URL;
      const api = new DroverApi(
        url,
        o.apiKey ?? config.DROVER_API_KEY,
        config.DROVER_DASHBOARD_URL,
      );
      setExitCode(await fn(api, { json: o.json }, ...args));
    };

  addTicketCommands(program, action);
  addTaskCommands(program, action);
  addRunCommands(program, action);
  addAccessCommands(program, action);
  return program;
}

/** A command's action from a function of the API, the output mode and its arguments (then options) to an exit code. */
type Action = <A extends unknown[]>(
  fn: (api: DroverApi, out: Output, ...args: A) => Promise<number>,
) => (...args: A) => Promise<void>;

function addTicketCommands(program: Command, action: Action): void {
  program
    .command('submit <path...>')
    .description(
      'submit tickets: each file (.md work order, .yaml/.yml or .json ticket) or each such file in a directory',
    )
    .option(
      '--wait',
      'follow the tickets live until each ends; exit 1 if any did not succeed',
      false,
    )
    .option(
      '--agents <list>',
      'a sweep: run every file by these agents (nop and oracle are baselines)',
    )
    .option('--models <list>', 'a sweep: each CLI agent with each of these models')
    .option('--trials <n>', 'a sweep: how many times each agent (x model) runs each task', '1')
    .option('--name <name>', "a sweep: the experiment's name (default: one is made up)")
    .option('--analysis <command|file>', 'a sweep: run for each failed trial to classify it')
    .option('--analysis-agent <agent>', 'a sweep: a CLI agent classifies failed trials instead')
    .option('--analysis-model <model>', "a sweep: the analysis agent's model")
    .action(
      action((api, out, paths: string[], o: SubmitFlags) =>
        o.agents === undefined
          ? submit(api, paths, { ...out, wait: o.wait })
          : submitSweep(api, paths, {
              ...out,
              wait: o.wait,
              agents: listOption('--agents', o.agents),
              models: o.models === undefined ? undefined : listOption('--models', o.models),
              trials: trialsOption(o.trials),
              name: o.name,
              analysis: o.analysis,
              analysisAgent: o.analysisAgent,
              analysisModel: o.analysisModel,
            }),
      ),
    );
  program
    .command('experiments [id]')
    .description("the project's experiments, or one as its matrix of pass rates and verdicts")
    .action(action((api, out, id: string | undefined) => experimentsCommand(api, id, out)));
  program
    .command('status [id]')
    .description('recent tickets; a ticket with its tasks; or, given a task id, that task')
    .option(
      '--watch',
      'follow the ticket live until it ends; exit 0 if it succeeded, else 1',
      false,
    )
    .action(
      action((api, out, id: string | undefined, o: { watch: boolean }) =>
        statusCommand(api, id, { ...out, watch: o.watch }),
      ),
    );
  program
    .command('logs <id>')
    .description("a run's log, or a task's (its newest run); stderr lines dimmed on a terminal")
    .option('-f, --follow', 'keep following until the run (a task: the task) ends', false)
    .action(
      action((api, out, id: string, o: { follow: boolean }) =>
        logs(api, id, { ...out, follow: o.follow }),
      ),
    );
}

function addTaskCommands(program: Command, action: Action): void {
  program
    .command('cancel <id>')
    .description(
      'cancel a ticket, or a task (its id, or --task): waiting work never starts, running work is stopped',
    )
    .option('--task', 'the id is a task, not a ticket', false)
    .action(action((api, out, id: string, o: { task: boolean }) => cancel(api, id, o, out)));
  program
    .command('rerun <id>')
    .description(
      "rerun a final ticket's failed, timed out, cancelled and blocked tasks, or one such task (its id, or --task) with its dependents that did not succeed: each runs as a new attempt",
    )
    .option('--task', 'the id is a task, not a ticket', false)
    .action(action((api, out, id: string, o: { task: boolean }) => rerun(api, id, o, out)));
  for (const decision of ['approve', 'reject'] as const) {
    program
      .command(`${decision} <task>`)
      .description(
        decision === 'approve'
          ? 'approve a task waiting for approval: it runs'
          : 'reject a task waiting for approval: it fails and its dependents are blocked',
      )
      .option('-m, --comment <text>', 'why (kept with the decision)')
      .action(
        action((api, out, task: string, o: { comment?: string }) =>
          decide(api, decision, task, o.comment, out),
        ),
      );
  }
  program
    .command('answer <task> [value]')
    .description("answer a task's request for input: it runs again with the value")
    .option('--name <NAME>', 'the variable asked for (default: the open request)')
    .option(
      '--stdin',
      'read the value from standard input (keeps a secret out of shell history)',
      false,
    )
    .action(
      action(
        (api, out, task: string, value: string | undefined, o: { name?: string; stdin: boolean }) =>
          answer(api, task, value, o, out),
      ),
    );
  program
    .command('clean <id>')
    .description(
      'delete a finished ticket, or experiment, with its tasks, runs, logs and artifacts',
    )
    .action(
      action((api, out, id: string) =>
        clean(api, id, out).catch((error: unknown) => {
          if (notATicket(error)) return cleanExperiment(api, id, out);
          throw error;
        }),
      ),
    );
}

function addRunCommands(program: Command, action: Action): void {
  program
    .command('runners')
    .description(
      "list the shared runners and your project's own, with their slots and last heartbeat",
    )
    .action(action((api, out) => runners(api, out)));
  program
    .command('artifacts <run>')
    .description("list a run's artifacts (its diff, iteration logs, result.json)")
    .action(action((api, out, run: string) => artifacts(api, run, out)));
  program
    .command('artifact <run> <name>')
    .description("download one of a run's artifacts (to stdout unless -o)")
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(
      action((api, out, run: string, name: string, o: { output?: string }) =>
        artifact(api, run, name, { ...out, output: o.output }),
      ),
    );
  program
    .command('diff <run>')
    .description("print a run's diff (its workspace changes) as a patch")
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .action(
      action((api, out, run: string, o: { output?: string }) =>
        diff(api, run, { ...out, output: o.output }),
      ),
    );
}

function addAccessCommands(program: Command, action: Action): void {
  program
    .command('whoami')
    .description("the API key's project and role")
    .action(action((api, out) => whoami(api, out)));
  const keys = program
    .command('keys')
    .description("list the project's API keys (admins); see also keys create|revoke")
    .action(action((api, out) => listKeys(api, out)));
  keys
    .command('create <name>')
    .description('issue a key of your project; its secret is shown only once')
    .requiredOption('--role <role>', 'viewer, member or admin')
    .option('--expires <date-time>', 'when it stops working (ISO 8601), e.g. 2027-01-01T00:00:00Z')
    .action(
      action((api, out, name: string, o: { role: string; expires?: string }) =>
        createKey(api, name, o, out),
      ),
    );
  keys
    .command('revoke <id>')
    .description('revoke a key of your project: it stops working at once')
    .action(action((api, out, id: string) => revokeKey(api, id, out)));
  program
    .command('projects')
    .description('manage projects (operator admins)')
    .command('create <slug>')
    .description('create a project and its first admin key')
    .option('--name <name>', 'display name (default: the slug)')
    .option('--own-runners', 'run its tasks only on its own runners (RUNNER_PROJECT=<slug>)')
    .action(
      action((api, out, slug: string, o: { name?: string; ownRunners?: boolean }) =>
        createProject(api, slug, o, out),
      ),
    );
}
