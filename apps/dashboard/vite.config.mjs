// The dashboard's build: static files for the gateway to serve at /ui
// (`npm run build:dashboard`, which skips the build when nothing changed).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: '/ui/',
  plugins: [react()],
  // The workspace's types only: a runtime import of @drover/contracts (zod, node:crypto)
  // has no place in the browser, so it is left unresolved and fails the build.
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
