#!/usr/bin/env node
// Builds the dashboard (apps/dashboard, React + Vite) into dist/apps/dashboard,
// which the gateway serves at /ui. Skipped when its inputs are what the last
// build was made from (a hash kept in dist/apps/dashboard/.build-hash); `--force`
// builds anyway. Prints the size of what it wrote (raw and gzip).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const app = join(root, 'apps/dashboard');
const out = join(root, 'dist/apps/dashboard');
const stamp = join(out, '.build-hash');
const force = process.argv.includes('--force');
const quiet = process.argv.includes('--quiet');
const log = (line) => quiet || console.log(line);

/** Every file under `dir`, sorted, as paths relative to the repository. */
function filesUnder(dir) {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : filesUnder(path);
      return entry.isFile() ? [path] : [];
    })
    .sort();
}

/** The build's inputs: the app's sources, the installed versions, the contracts, the client, this script. */
function inputsHash() {
  const inputs = [
    ...filesUnder(app),
    ...filesUnder(join(root, 'libs/contracts/src')),
    ...filesUnder(join(root, 'libs/client/src')),
    join(root, 'package-lock.json'),
    join(root, 'tsconfig.base.json'),
    fileURLToPath(import.meta.url),
  ];
  const hash = createHash('sha256');
  for (const file of inputs) {
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

function sizes() {
  const rows = filesUnder(join(out, 'assets')).map((file) => {
    const body = readFileSync(file);
    return { file: relative(out, file), raw: body.length, gzip: gzipSync(body).length };
  });
  const kb = (n) => `${(n / 1024).toFixed(1)} kB`;
  for (const kind of ['.js', '.css']) {
    const of = rows.filter((r) => r.file.endsWith(kind));
    const raw = of.reduce((n, r) => n + r.raw, 0);
    const gzip = of.reduce((n, r) => n + r.gzip, 0);
    log(`  ${kind.slice(1)}: ${of.length} files, ${kb(raw)} raw, ${kb(gzip)} gzip`);
  }
}

const hash = inputsHash();
if (!force && existsSync(join(out, 'index.html')) && existsSync(stamp)) {
  if (readFileSync(stamp, 'utf8').trim() === hash) {
    log('dist/apps/dashboard is up to date');
    process.exit(0);
  }
}
const started = Date.now();
const { build } = await import('vite');
await build({ configFile: join(app, 'vite.config.mjs'), logLevel: 'warn' });
if (!statSync(join(out, 'index.html')).isFile()) throw new Error('the build wrote no index.html');
writeFileSync(stamp, `${hash}\n`);
log(`built dist/apps/dashboard in ${Date.now() - started} ms`);
sizes();
