#!/usr/bin/env node
// `npm run demo`: installs what is missing, makes sure Postgres, Redis, NATS and a
// container engine answer, applies migrations, builds and starts the five
// services, submits examples/hello-ticket.json and then a ticket in which the real
// Claude Code CLI fixes a bug in a small local git repository (its own test suite
// as the acceptance command, pushed to a branch), follows both live, and exits 0
// when both succeed. Claude Code's model is a scripted one (tools/demo-model.ts)
// unless ANTHROPIC_API_KEY is set: then it is the real one.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const started = Date.now();
const log = (msg) => console.log(`demo: ${msg}`);

const {
  npmInstallIfNeeded,
  buildApps,
  migrate,
  bootstrapKey,
  freePort,
  startApps,
  stopApps,
  waitForGateway,
} = await import('./lib/stack.mjs');
const { ensureInfra } = await import('./lib/infra.mjs');
const { agentSandboxEnv } = await import('./lib/agent-image.mjs');

/** The key the runner hands Claude Code when the model is the scripted one (it checks none). */
const SCRIPTED_KEY = 'sk-ant-demo-scripted-model';

let sandbox = null;
let apiKey = null;
try {
  npmInstallIfNeeded(root, log);
  log('checking Postgres, Redis and NATS...');
  await ensureInfra((line) => console.log(`demo:${line}`));
  log('checking the container engine and the agent image (npm run sandbox:build)...');
  sandbox = await agentSandboxEnv((line) => console.log(`demo:${line}`)).catch((error) => {
    console.log(`demo:   sandbox: ${error.message}`);
    return null;
  });
  log('applying migrations...');
  migrate(root, process.env);
  log('issuing an admin API key of project "default" (npm run bootstrap)...');
  apiKey = bootstrapKey(root, process.env).key.key;
  log('building the services and the CLI...');
  buildApps(root);
} catch (error) {
  // The failing step has already said what went wrong; add only where we stopped.
  console.error(`demo: stopped: ${error.message.split('\n')[0]}`);
  process.exit(1);
}

const port = await freePort(Number(process.env.GATEWAY_PORT ?? 8080));
const url = `http://127.0.0.1:${port}`;
if (!sandbox) {
  log('no container engine or agent image: runs go to the process driver, NOT ISOLATED');
  sandbox = { RUNNER_SANDBOX: 'process' };
}
const logDir = join(root, 'tmp/demo-logs');
mkdirSync(logDir, { recursive: true });
// Claude Code runs only in the agent image; the process driver gets the scripted steps.
const agent = sandbox.RUNNER_SANDBOX === 'process' ? 'command' : 'claude-code';
const model =
  agent === 'claude-code'
    ? await demoModel().catch((error) => {
        console.error(`demo: stopped: ${error.message}`);
        process.exit(1);
      })
    : null;
const env = {
  ...process.env,
  GATEWAY_PORT: String(port),
  LOG_FORMAT: 'json',
  LOG_LEVEL: 'warn',
  // The demo's repository is a local one.
  RUNNER_ALLOW_LOCAL_REPOS: 'true',
  // Secret task env values work in the demo: a fresh key each run unless one is set.
  DROVER_SECRETS_KEY: process.env.DROVER_SECRETS_KEY || randomBytes(32).toString('base64'),
  ...sandbox,
  ...(model?.env ?? {}),
};
log(
  `starting gateway, orchestrator, scheduler, agent-runner and health-monitor (logs in tmp/demo-logs/)...`,
);
const procs = startApps(root, env, logDir);
let code = 1;
try {
  await waitForGateway(url, procs, apiKey);
  log(`Drover is up at ${url} (API docs: ${url}/docs); submitting examples/hello-ticket.json\n`);
  code = await submit(url, 'examples/hello-ticket.json');
  if (code === 0) {
    const ticket = demoRepository(agent);
    log(
      `a bug to fix in ${ticket.tasks[0].repo}, proved by its own test suite: ${model?.says ?? 'the `command` agent runs scripted steps (no agent image, so no Claude Code)'}\n`,
    );
    code = await submit(url, join(root, 'tmp/demo-repo-ticket.json'));
    if (code !== 0 && model?.real) await tellRefusals(url).catch(() => undefined);
    if (code === 0) {
      const repo = ticket.tasks[0].repo;
      const show = (...args) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
      log(
        `pushed to ${repo}, branch drover/fix-add: ${show('log', '--oneline', '-1', 'drover/fix-add')}`,
      );
      log(`its change: ${show('diff', '--stat', 'main', 'drover/fix-add').split('\n').pop()}`);
      if (agent === 'claude-code') await tellIterations(url).catch(() => undefined);
    }
  }
} catch (error) {
  console.error(`demo: ${error.message} (see tmp/demo-logs/)`);
} finally {
  log('stopping the services...');
  await stopApps(procs);
  await model?.stop();
}
log(
  `${code === 0 ? 'both tickets SUCCEEDED' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s overall`,
);
process.exit(code);

function submit(apiUrl, file) {
  return new Promise((resolve) => {
    const cli = spawn(
      process.execPath,
      [join(root, 'dist/apps/cli/main.js'), 'submit', file, '--wait'],
      {
        cwd: root,
        env: { ...process.env, DROVER_API_URL: apiUrl, DROVER_API_KEY: apiKey },
        stdio: 'inherit',
      },
    );
    cli.on('exit', (c) => resolve(c ?? 1));
  });
}

/** GET `path` of the API as the demo's key; the parsed body. */
async function apiGet(apiUrl, path) {
  const res = await fetch(`${apiUrl}${path}`, { headers: { authorization: `Bearer ${apiKey}` } });
  if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
  return res.json();
}

/** The last run of the newest ticket's first task. */
async function newestRun(apiUrl) {
  const [newest] = (await apiGet(apiUrl, '/tickets?limit=1')).items;
  const ticket = await apiGet(apiUrl, `/tickets/${newest.id}`);
  return (await apiGet(apiUrl, `/tasks/${ticket.tasks[0].id}`)).runs.at(-1);
}

/** With the real model, a failed run most often could not reach it: what its egress refused. */
async function tellRefusals(apiUrl) {
  const run = await newestRun(apiUrl);
  for (const { target, count, reason } of run.result?.egress?.denied ?? []) {
    log(`the sandbox's egress refused ${target} ${count} times (${reason})`);
  }
  log(
    'with the real model the provider must be reachable from this machine; without ANTHROPIC_API_KEY the demo uses its scripted model',
  );
}

/** What Claude Code said in each iteration of the newest ticket's run, from its result.json. */
async function tellIterations(apiUrl) {
  const run = await newestRun(apiUrl);
  const result = await apiGet(apiUrl, `/runs/${run.id}/artifacts/result.json`);
  for (const { iteration, agent: cli, acceptance } of result.iterationDetails) {
    const failed = acceptance.find((a) => !a.passed);
    const verdict = failed
      ? `\`${failed.command}\` failed (exit ${failed.exitCode}); its output goes into the next prompt`
      : 'the acceptance commands passed';
    // The model's words reach this terminal quoted as JSON: no escape sequence of theirs runs.
    const said =
      cli.finalMessage == null ? '(no message)' : JSON.stringify(cli.finalMessage.slice(0, 500));
    log(`Claude Code, iteration ${iteration}: ${said}; ${verdict}`);
  }
  log(
    `Claude Code reported ${run.inputTokens} input and ${run.outputTokens} output tokens, $${Number(run.costUsd).toFixed(4)} (its own price list: the model was ${model?.env.ANTHROPIC_BASE_URL ? 'scripted, nothing was spent' : 'real'})`,
  );
}

/**
 * Claude Code's model for the demo: with ANTHROPIC_API_KEY set, the real one (the
 * runner passes the key on; ANTHROPIC_BASE_URL too, where set); else the scripted
 * model server of tools/demo-model.ts on loopback, as the runner's ANTHROPIC_BASE_URL.
 * Returns the runner's environment, what to tell the user, and how to stop it.
 */
async function demoModel() {
  if (process.env.ANTHROPIC_API_KEY) {
    const where = process.env.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com';
    log(
      `ANTHROPIC_API_KEY is set: Claude Code will talk to the REAL model at ${where} (it spends tokens)`,
    );
    return {
      real: true,
      env: {},
      says: `the real Claude Code CLI, in the agent image, with the REAL model (${where})`,
      stop: async () => undefined,
    };
  }
  log(
    'no ANTHROPIC_API_KEY: starting a SCRIPTED model (tools/demo-model.ts, a local server speaking the Anthropic API)',
  );
  const child = spawn(
    process.execPath,
    [
      join(root, 'node_modules/tsx/dist/cli.mjs'),
      '--tsconfig',
      'tsconfig.json',
      'tools/demo-model.ts',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout });
  const [first] = await Promise.race([
    once(lines, 'line'),
    once(child, 'exit').then(([c]) => {
      throw new Error(`the scripted model exited with ${c} before it listened`);
    }),
  ]);
  const { anthropic } = JSON.parse(first);
  const said = [];
  lines.on('line', (line) => said.push(line));
  log(`scripted model listening at ${anthropic}`);
  return {
    real: false,
    env: { ANTHROPIC_API_KEY: SCRIPTED_KEY, ANTHROPIC_BASE_URL: anthropic },
    says: `the real Claude Code CLI, in the agent image, with a SCRIPTED model (its answers are canned in tools/demo-model.ts; set ANTHROPIC_API_KEY for the real one)`,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await once(child, 'exit');
      }
      writeFileSync(join(logDir, 'model.log'), said.map((l) => `${l}\n`).join(''));
      log(
        `scripted model: ${said.filter((l) => l.startsWith('model call')).length} model calls answered; ${said.at(-1) ?? 'no summary'} (tmp/demo-logs/model.log)`,
      );
    },
  };
}

/**
 * A small repository with a failing test (tmp/demo-repo) and a ticket for it:
 * `agent` (claude-code, else scripted `command` steps) fixes the bug; with the
 * scripted model or steps on its second try (the first misses, and the failure
 * goes back to it). Only src/ may change, and the fix is pushed to a branch.
 */
function demoRepository(agent) {
  const repo = join(root, 'tmp/demo-repo');
  rmSync(repo, { recursive: true, force: true });
  mkdirSync(join(repo, 'src'), { recursive: true });
  writeFileSync(join(repo, 'src/add.sh'), '#!/bin/sh\necho $(( $1 - $2 ))\n');
  writeFileSync(
    join(repo, 'test.sh'),
    '#!/bin/sh\nset -e\ngot=$(sh src/add.sh 2 3)\n[ "$got" = 5 ] || { echo "add 2 3: expected 5, got $got"; exit 1; }\necho "all tests passed"\n',
  );
  writeFileSync(join(repo, '.gitignore'), '.tries\n');
  const git = (...args) =>
    execFileSync('git', args, {
      cwd: repo,
      stdio: 'ignore',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'Demo',
        GIT_AUTHOR_EMAIL: 'demo@example.com',
        GIT_COMMITTER_NAME: 'Demo',
        GIT_COMMITTER_EMAIL: 'demo@example.com',
      },
    });
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('commit', '-q', '-m', 'add: a calculator with a bug');
  const work =
    agent === 'claude-code'
      ? {
          prompt:
            'The test suite (`sh test.sh`) fails: `src/add.sh` should print the sum of its two arguments. Fix it.',
        }
      : { steps: commandSteps() };
  const ticket = {
    title: 'Fix add in the demo repository',
    tasks: [
      {
        key: 'fix-add',
        title: 'Make the test suite pass',
        agent,
        repo,
        clone_branch: 'main',
        push_branch: 'drover/fix-add',
        ...work,
        acceptance_commands: ['sh test.sh'],
        max_iterations: 3,
        allowed_paths: ['src/**'],
      },
    ],
  };
  writeFileSync(join(root, 'tmp/demo-repo-ticket.json'), `${JSON.stringify(ticket, null, 2)}\n`);
  return ticket;
}

/** The `command` agent's stand-in for Claude Code: the first try swaps the operands, the next adds. */
function commandSteps() {
  return [
    {
      name: 'agent',
      run: [
        'n=$(( $(cat .tries 2>/dev/null || echo 0) + 1 )); echo $n > .tries',
        'if [ $n -eq 1 ]; then',
        '  echo "try 1: swap the operands"',
        "  printf '#!/bin/sh\\necho $(( $2 - $1 ))\\n' > src/add.sh",
        'else',
        '  echo "try $n: add them"',
        "  printf '#!/bin/sh\\necho $(( $1 + $2 ))\\n' > src/add.sh",
        'fi',
      ].join('\n'),
    },
  ];
}
