#!/usr/bin/env node
// `npm test`: every test tier (unit, integration, end to end) in one Jest run,
// after making sure Postgres, Redis and NATS answer. Extra arguments go to Jest.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { npmInstallIfNeeded } = await import('./lib/stack.mjs');
const { ensureInfra } = await import('./lib/infra.mjs');

npmInstallIfNeeded(root, console.log);
if (!process.env.DROVER_TEST_DATABASE_URL) await ensureInfra();
const jest = join(root, 'node_modules/jest/bin/jest.js');
const args = process.argv.slice(2);
const result = spawnSync(process.execPath, [jest, ...(process.env.CI ? ['--ci'] : []), ...args], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
