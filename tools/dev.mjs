#!/usr/bin/env node
// `npm run dev`: builds and runs all five services (and the dashboard the gateway
// serves at /ui) in the foreground with their output prefixed; Ctrl-C stops them
// all cleanly.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bootstrapKey,
  buildApps,
  dashboardUrl,
  migrate,
  npmInstallIfNeeded,
  startApps,
  stopApps,
} from './lib/stack.mjs';
import { ensureInfra } from './lib/infra.mjs';
import { agentSandboxEnv } from './lib/agent-image.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
npmInstallIfNeeded(root, console.log);
await ensureInfra();
migrate(root, process.env);
const dashboard = dashboardUrl(process.env);
if (!process.env.DROVER_API_KEY) {
  const { key } = bootstrapKey(root, process.env);
  console.log(
    `an admin key of project "default", shown only now:\n  export DROVER_API_KEY=${key.key}\n` +
      `the dashboard (sign in with that key): ${dashboard}`,
  );
} else {
  console.log(`the dashboard (sign in with $DROVER_API_KEY): ${dashboard}`);
}
buildApps(root);
const procs = startApps(
  root,
  { ...process.env, ...(await sandboxEnv()) },
  join(root, 'tmp/dev-logs'),
  true,
);
let stopping = false;
void announceWhenUp(dashboard);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await stopApps(procs);
    process.exit(0);
  });
}

/**
 * The runner's sandbox: a container engine and the agent image (built where
 * missing). RUNNER_SANDBOX=process or a RUNNER_IMAGE of one's own is left as set.
 */
async function sandboxEnv() {
  if (process.env.RUNNER_SANDBOX === 'process') return {};
  try {
    const env = await agentSandboxEnv();
    if (!env) {
      console.log(
        'no container engine: the agent-runner will refuse to start (install Podman or Docker, or set RUNNER_SANDBOX=process: NOT ISOLATED)',
      );
      return {};
    }
    return process.env.RUNNER_IMAGE ? { ...env, RUNNER_IMAGE: process.env.RUNNER_IMAGE } : env;
  } catch (error) {
    // The runner then refuses to start, naming the image and `npm run sandbox:build`.
    console.log(`agent image: ${error.message}`);
    return {};
  }
}

/** Once the gateway answers, says again where the dashboard is (the services' output scrolls). */
async function announceWhenUp(url) {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline && !stopping) {
    try {
      if ((await fetch(url, { method: 'HEAD' })).ok) {
        console.log(`\nDrover is up. Dashboard: ${url}\n`);
        return;
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
