#!/usr/bin/env node
// `npm run demo`: installs what is missing, makes sure Postgres, Redis, NATS and a
// container engine answer, applies migrations, builds and starts the five
// services, submits examples/hello-ticket.json and then a ticket that fixes a
// bug in a small local git repository (its own test suite as the acceptance
// command, pushed to a branch), follows both live, and exits 0 when both succeed.
import { execFileSync, spawn } from 'node:child_process';
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
};
const logDir = join(root, 'tmp/demo-logs');
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
    const ticket = demoRepository();
    log(`a bug to fix in ${ticket.tasks[0].repo}, proved by its own test suite\n`);
    code = await submit(url, join(root, 'tmp/demo-repo-ticket.json'));
    if (code === 0) {
      const repo = ticket.tasks[0].repo;
      const show = (...args) => execFileSync('git', args, { cwd: repo, encoding: 'utf8' }).trim();
      log(
        `pushed to ${repo}, branch drover/fix-add: ${show('log', '--oneline', '-1', 'drover/fix-add')}`,
      );
      log(`its change: ${show('diff', '--stat', 'main', 'drover/fix-add').split('\n').pop()}`);
    }
  }
} catch (error) {
  console.error(`demo: ${error.message} (see tmp/demo-logs/)`);
} finally {
  log('stopping the services...');
  await stopApps(procs);
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

/**
 * A small repository with a failing test (tmp/demo-repo) and a ticket for it:
 * the agent fixes the bug on its second try (the first misses, and the failure
 * goes back to it), only src/ may change, and the fix is pushed to a branch.
 */
function demoRepository() {
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
  const ticket = {
    title: 'Fix add in the demo repository',
    tasks: [
      {
        key: 'fix-add',
        title: 'Make the test suite pass',
        agent: 'command',
        repo,
        clone_branch: 'main',
        push_branch: 'drover/fix-add',
        steps: [
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
        ],
        acceptance_commands: ['sh test.sh'],
        max_iterations: 3,
        allowed_paths: ['src/**'],
      },
    ],
  };
  writeFileSync(join(root, 'tmp/demo-repo-ticket.json'), `${JSON.stringify(ticket, null, 2)}\n`);
  return ticket;
}
