import { request } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// The gateway serves the built dashboard at /ui without a key, with a strict
// policy and cache headers; every API route still needs one.

const INDEX =
  '<!doctype html><title>Drover</title><script type="module" src="/ui/assets/app-Ab12.js"></script>';
const SCRIPT = 'console.log("dashboard");\n';

let stack: InProcessStack;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'drover-ui-'));
  await mkdir(join(dir, 'assets'));
  await writeFile(join(dir, 'index.html'), INDEX);
  await writeFile(join(dir, 'assets/app-Ab12.js'), SCRIPT);
  await writeFile(join(dir, '.build-hash'), 'secret-ish\n');
  stack = await startInProcessStack({ GATEWAY_UI_DIR: dir }, { runner: false });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A request sent with its path exactly as given (fetch would normalise `..`). */
function raw(
  method: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}> {
  const url = new URL(stack.baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the dashboard at /ui', () => {
  it('serves index.html without a key, under a policy that allows only its own scripts', async () => {
    const res = await raw('GET', '/ui');
    expect(res.status).toBe(200);
    expect(res.body).toBe(INDEX);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-frame-options']).toBe('DENY');
    const csp = String(res.headers['content-security-policy']);
    const host = new URL(stack.baseUrl).host;
    expect(csp.split('; ')).toEqual(
      expect.arrayContaining([
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        `connect-src 'self' ws://${host} wss://${host}`,
        "frame-ancestors 'none'",
      ]),
    );
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toContain('unsafe-eval');
  });

  it('answers the client routes with index.html, and a file with itself, cached for good', async () => {
    for (const path of [
      '/ui/',
      '/ui/tickets/4f0c6f3e-8a7b-4a55-9f55-0c8f9e3a0b11',
      '/ui/tasks/x',
    ]) {
      const res = await raw('GET', path);
      expect({ path, status: res.status, body: res.body }).toEqual({
        path,
        status: 200,
        body: INDEX,
      });
    }
    const asset = await raw('GET', '/ui/assets/app-Ab12.js');
    expect(asset.status).toBe(200);
    expect(asset.body).toBe(SCRIPT);
    expect(asset.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const again = await raw('GET', '/ui/assets/app-Ab12.js', {
      'if-none-match': String(asset.headers.etag),
    });
    expect(again.status).toBe(304);
    const head = await raw('HEAD', '/ui');
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe(String(Buffer.byteLength(INDEX)));
    expect(head.body).toBe('');
  });

  it('answers 404 for a file that is not there, a hidden file or a path out of the directory', async () => {
    for (const path of [
      '/ui/assets/missing-x1.js',
      '/ui/missing.css',
      '/ui/.build-hash',
      '/ui/../tickets',
      '/ui/assets/../../package.json',
      '/ui/%2e%2e/package.json',
    ]) {
      const res = await raw('GET', path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(res.body).not.toContain('secret-ish');
      expect(res.body).not.toContain('<!doctype');
    }
  });

  it('reads only: another method gets 405', async () => {
    const res = await raw('POST', '/ui/tickets');
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('still asks a key of every API route and of paths that only look like /ui', async () => {
    for (const path of ['/tickets', '/uix', '/UI', '/ui%2f..%2ftickets']) {
      const res = await raw('GET', path);
      expect({ path, status: res.status }).toEqual({ path, status: 401 });
    }
  });

  it('counts its requests under the template /ui, never the path', async () => {
    await raw('GET', '/ui/tickets/4f0c6f3e-8a7b-4a55-9f55-0c8f9e3a0b11');
    const metrics = await (await fetch(`${stack.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/drover_http_requests_total\{[^}]*route="\/ui"[^}]*status="200"/);
    expect(metrics).not.toContain('4f0c6f3e');
  });

  it('answers 503 naming the build command while the dashboard is not built', async () => {
    await rm(join(dir, 'index.html'));
    const res = await raw('GET', '/ui/tickets');
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.body).toContain('npm run build:dashboard');
    expect(res.headers['content-security-policy']).toContain("script-src 'self'");
  });
});
