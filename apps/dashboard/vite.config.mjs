// The dashboard's build: static files for the gateway to serve at /ui
// (`npm run build:dashboard`, which skips the build when nothing changed).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const libs = join(here, '../../libs');

/** Fails the build on a node: module: the browser has none (the libs it loads are browser-safe). */
const noNodeModules = {
  name: 'drover-no-node-modules',
  enforce: 'pre',
  resolveId(id, importer) {
    if (id.startsWith('node:')) this.error(`${importer ?? 'the dashboard'} imports ${id}`);
    return null;
  },
};

export default defineConfig({
  root: here,
  base: '/ui/',
  plugins: [noNodeModules, react()],
  // The browser-safe entry points of the workspace only: @drover/client and the API
  // contract. @drover/contracts itself (node:crypto) is left unresolved: importing it
  // at runtime fails the build.
  resolve: {
    alias: [
      { find: /^@drover\/client$/, replacement: join(libs, 'client/src/index.ts') },
      { find: /^@drover\/contracts\/api$/, replacement: join(libs, 'contracts/src/api/index.ts') },
    ],
  },
  build: {
    outDir: join(here, '../../dist/apps/dashboard'),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    // Browsers that run ES2022 have module preload; the polyfill is not needed.
    modulePreload: { polyfill: false },
  },
  logLevel: 'warn',
});
