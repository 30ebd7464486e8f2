import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { NextFunction, Request, Response } from 'express';
import { setRouteTemplate } from './http-metrics';

/** Where the dashboard is served; its files need no key (the API calls they make do). */
export const UI_ROUTE = '/ui';
const UI_PATH = /^\/ui(\/|$)/;

/** The command that writes the files this serves (named on the 503 page). */
export const UI_BUILD_COMMAND = 'npm run build:dashboard';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** A host header fit to be written into a policy: a name or an address, and a port. */
const HOST = /^(?:[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(?::\d{1,5})?$/;

/**
 * The policy of every /ui answer: scripts and styles only from the gateway's own
 * files (no inline script, no eval), API calls and the event stream only to the
 * gateway itself, and the page never framed.
 */
export function uiSecurityHeaders(host: string | undefined): Record<string, string> {
  const ws = host && HOST.test(host) ? ` ws://${host} wss://${host}` : '';
  return {
    'Content-Security-Policy': [
      "default-src 'none'",
      "script-src 'self'",
      "style-src 'self'",
      "img-src 'self' data: blob:",
      "font-src 'self'",
      `connect-src 'self'${ws}`,
      "base-uri 'none'",
      "form-action 'none'",
      "frame-ancestors 'none'",
    ].join('; '),
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  };
}

/**
 * Serves the built dashboard (a Vite build) at /ui: its files as they are, and
 * index.html for every other path under /ui that is not a file's (the client's
 * routes). Hashed assets are cached for good, index.html is revalidated on each
 * load. Only GET and HEAD; no key: what the files show comes from API calls,
 * which need one. Without a build, /ui answers 503 naming the command to run.
 */
export function dashboardMiddleware(dir: string) {
  const root = resolve(dir);
  return (req: Request, res: Response, next: NextFunction): void => {
    if (!UI_PATH.test(req.path)) {
      next();
      return;
    }
    setRouteTemplate(res, UI_ROUTE);
    for (const [name, value] of Object.entries(uiSecurityHeaders(req.headers.host))) {
      res.setHeader(name, value);
    }
    serve(root, req, res).catch(next);
  };
}

async function serve(root: string, req: Request, res: Response): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    res.status(405).json({
      error: { code: 'METHOD_NOT_ALLOWED', message: `the dashboard's files are read with GET` },
    });
    return;
  }
  const path = req.path.slice(UI_ROUTE.length).replace(/^\//, '');
  const file = await fileOf(root, path);
  if (file) {
    await send(req, res, file, path.startsWith('assets/'));
    return;
  }
  // A file's path that is not there (a stale asset, a typo) is a 404, not the page:
  // a script answered with HTML would fail in a way that says nothing.
  if (!safe(path) || path.startsWith('assets/') || extname(path) !== '') {
    res
      .status(404)
      .json({ error: { code: 'NOT_FOUND', message: `no dashboard file /ui/${path}` } });
    return;
  }
  const index = await fileOf(root, 'index.html');
  if (!index) {
    notBuilt(res, root);
    return;
  }
  await send(req, res, index, false);
}

/** A relative path of plain segments: no `..`, no hidden files, nothing encoded. */
function safe(path: string): boolean {
  return path
    .split('/')
    .every((segment) => segment === '' || /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(segment));
}

interface Found {
  path: string;
  size: number;
  mtime: Date;
}

/** The regular file at `path` under `root`, or null (also for any path that is not `safe`). */
async function fileOf(root: string, path: string): Promise<Found | null> {
  if (path === '' || !safe(path)) return null;
  const full = join(root, path);
  if (!full.startsWith(root + sep)) return null;
  try {
    const found = await stat(full);
    return found.isFile() ? { path: full, size: found.size, mtime: found.mtime } : null;
  } catch {
    return null;
  }
}

async function send(req: Request, res: Response, file: Found, hashed: boolean): Promise<void> {
  const etag = `W/"${file.size.toString(16)}-${file.mtime.getTime().toString(16)}"`;
  res.setHeader('Content-Type', TYPES[extname(file.path)] ?? 'application/octet-stream');
  res.setHeader('Cache-Control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
  res.setHeader('ETag', etag);
  if (req.headers['if-none-match'] === etag) {
    res.status(304).end();
    return;
  }
  res.setHeader('Content-Length', String(file.size));
  res.status(200);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  await new Promise<void>((done, fail) => {
    const stream = createReadStream(file.path);
    stream.once('error', fail);
    res.once('close', () => {
      stream.destroy();
      done();
    });
    stream.pipe(res);
  });
}

function notBuilt(res: Response, root: string): void {
  res.status(503).setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Retry-After', '30');
  res.end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Drover dashboard not built</title></head>` +
      `<body><h1>The Drover dashboard is not built</h1>` +
      `<p>The gateway serves it from <code>${escapeHtml(root)}</code>, which has no <code>index.html</code>.</p>` +
      `<p>Build it with <code>${UI_BUILD_COMMAND}</code> (or <code>npm run build</code>) in the repository, then reload this page.</p>` +
      `</body></html>`,
  );
}

function escapeHtml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}
