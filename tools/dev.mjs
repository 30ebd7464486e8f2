#!/usr/bin/env node
// `npm run dev`: builds and runs all five services in the foreground with their
// output prefixed; Ctrl-C stops them all cleanly.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  bootstrapKey,
  buildApps,
  migrate,
  npmInstallIfNeeded,
  startApps,
  stopApps,
} from './lib/stack.mjs';
import { ensureInfra } from './lib/infra.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
npmInstallIfNeeded(root, console.log);
await ensureInfra();
migrate(root, process.env);
if (!process.env.DROVER_API_KEY) {
  const { key } = bootstrapKey(root, process.env);
  console.log(
    `an admin key of project "default", shown only now:\n  export DROVER_API_KEY=${key.key}`,
  );
}
buildApps(root);
const procs = startApps(root, process.env, join(root, 'tmp/dev-logs'), true);
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await stopApps(procs);
    process.exit(0);
  });
}
