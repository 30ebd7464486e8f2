#!/usr/bin/env node
// `npm test`: every test tier (unit, integration, end to end, browser) in one Jest
// run, after making sure Postgres, Redis and NATS answer (and Debian's Chromium is
// installed, for the browser tests), then the chaos test in its
// short form and the hostile-input suite. Extra arguments go to Jest, and skip
// those two (a subset was asked for).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { npmInstallIfNeeded } = await import('./lib/stack.mjs');
const { ensureInfra } = await import('./lib/infra.mjs');
const { ensureChromium } = await import('./lib/chromium.mjs');

npmInstallIfNeeded(root, console.log);
if (!process.env.DROVER_TEST_DATABASE_URL) await ensureInfra();
const jest = join(root, 'node_modules/jest/bin/jest.js');
const args = process.argv.slice(2);
// The browser tests (tests/browser) run with every tier and with the e2e one.
if (!args.length || args.some((a) => /browser|e2e/.test(a))) {
  const problem = ensureChromium(console.log);
  if (problem) {
    console.error(`npm test: ${problem}`);
    process.exit(1);
  }
}
const results = join(root, 'tmp/jest-results.json');
mkdirSync(dirname(results), { recursive: true });
rmSync(results, { force: true });
const result = spawnSync(
  process.execPath,
  [jest, ...(process.env.CI ? ['--ci'] : []), '--json', `--outputFile=${results}`, ...args],
  { cwd: root, stdio: 'inherit' },
);
let chaos;
let hostile;
if (!args.length) {
  console.log('\nchaos test, short form (npm run chaos -- --short):');
  chaos = spawnSync(process.execPath, [join(root, 'tools/chaos.mjs'), '--short'], {
    cwd: root,
    stdio: 'inherit',
  });
  console.log('\nhostile-input suite (npm run hostile):');
  hostile = spawnSync(
    process.execPath,
    [
      join(root, 'node_modules/tsx/dist/cli.mjs'),
      '--tsconfig',
      'tsconfig.json',
      'tools/hostile.ts',
    ],
    { cwd: root, stdio: 'inherit' },
  );
}
// One plain closing line, last of all, that any CI can read.
if (existsSync(results)) {
  const r = JSON.parse(readFileSync(results, 'utf8'));
  const skipped = r.numPendingTests + r.numTodoTests;
  const verdict = (name, run) =>
    run ? `; ${name}: ${run.status === 0 ? 'passed' : 'FAILED'}` : '';
  console.log(
    `\ntests: ${r.numPassedTests} passed, ${r.numFailedTests} failed${skipped ? `, ${skipped} skipped` : ''}${verdict('chaos', chaos)}${verdict('hostile', hostile)}`,
  );
}
const failed = (status) => (status === 0 ? 0 : 1);
process.exit(
  failed(result.status) ||
    (chaos ? failed(chaos.status) : 0) ||
    (hostile ? failed(hostile.status) : 0),
);
