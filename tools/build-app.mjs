#!/usr/bin/env node
// Bundles one app into dist/apps/<name>/main.js: workspace libs are inlined,
// npm packages stay external (resolved from node_modules at run time). SWC
// compiles TypeScript so Nest's decorator metadata is emitted (esbuild alone
// cannot emit it).
//
// External npm packages are also what makes tracing work: OpenTelemetry's
// instrumentations patch a package when it is `require`d (after main.ts has
// started telemetry), which never happens to code inlined into the bundle.
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import swc from '@swc/core';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const name = process.argv[2];
if (!name) {
  console.error('usage: build-app.mjs <app-name>');
  process.exit(2);
}
const { compilerOptions } = JSON.parse(await readFile(join(root, 'tsconfig.base.json'), 'utf8'));
const aliases = new Map(
  Object.entries(compilerOptions.paths).map(([alias, [target]]) => [alias, join(root, target)]),
);

/** Packages @drover/telemetry instruments through require hooks: never to be bundled. */
const INSTRUMENTED = ['express', '@nestjs/core', 'pg', 'pg-pool', 'ioredis'];

const workspace = {
  name: 'drover-workspace',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      const target = aliases.get(args.path);
      if (target) return { path: target };
      return { path: args.path, external: true };
    });
    b.onLoad({ filter: /\.ts$/ }, async (args) => {
      const source = await readFile(args.path, 'utf8');
      const out = await swc.transform(source, {
        filename: args.path,
        sourceMaps: 'inline',
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2022',
          keepClassNames: true,
        },
        module: { type: 'es6' },
      });
      return { contents: out.code, loader: 'js' };
    });
  },
};

const started = Date.now();
const { metafile } = await build({
  entryPoints: [join(root, 'apps', name, 'src/main.ts')],
  outfile: join(root, 'dist/apps', name, 'main.js'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  logLevel: 'warning',
  keepNames: true,
  plugins: [workspace],
  metafile: true,
});
const inlined = Object.keys(metafile.inputs).filter((input) =>
  INSTRUMENTED.some((pkg) => input.includes(`node_modules/${pkg}/`)),
);
if (inlined.length) {
  console.error(
    `instrumented packages were bundled, so tracing would miss them: ${inlined.join(', ')}`,
  );
  process.exit(1);
}
console.log(`built dist/apps/${name}/main.js in ${Date.now() - started} ms`);
