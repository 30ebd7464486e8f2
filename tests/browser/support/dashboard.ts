import type { Page } from 'playwright-core';

/** Calls to the gateway as the test's own key (the dashboard under test makes its own). */
export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly key: string,
  ) {}

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.key}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  async bytes(path: string): Promise<Buffer> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      headers: { authorization: `Bearer ${this.key}` },
    });
    if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  }
}

/** Opens the dashboard and signs in with `key`; resolves once the header shows the session. */
export async function signIn(
  page: Page,
  baseUrl: string,
  key: string,
  path = '/ui',
): Promise<void> {
  await page.goto(`${baseUrl}${path}`);
  await page.locator('#api-key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('header .who').waitFor();
}

/** Waits until the header says the event stream is live. */
export async function streamIsLive(page: Page): Promise<void> {
  await page.locator('[data-testid="stream-state"]', { hasText: 'live' }).waitFor();
}

/**
 * Records, in the page, when each graph node first shows each status (the
 * instant the DOM changed, on the epoch clock): `window.__statusSeen`. Runs
 * before the dashboard's own scripts, on every document of the page.
 */
export async function recordGraphStatuses(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = globalThis as unknown as PageGlobals;
    w.__statusSeen = [];
    w.__statusNow = {};
    const record = () => {
      const at = w.performance.timeOrigin + w.performance.now();
      const nodes = w.document.querySelectorAll('g[data-task-key]');
      for (let i = 0; i < nodes.length; i++) {
        const key = nodes[i].getAttribute('data-task-key') ?? '';
        const status = nodes[i].getAttribute('data-status') ?? '';
        if (w.__statusNow[key] === status) continue;
        w.__statusNow[key] = status;
        w.__statusSeen.push({ key, status, at });
      }
    };
    new w.MutationObserver(record).observe(w.document, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ['data-status'],
    });
  });
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The browser globals the tests' in-page functions use: the test program has no
 * DOM types. In a page function: `const w = globalThis as unknown as PageGlobals`.
 */
export interface PageGlobals {
  sessionStorage: { length: number; getItem(key: string): string | null };
  localStorage: { length: number };
  location: { href: string };
  document: { querySelectorAll(selector: string): ArrayLike<PageElement> };
  performance: { timeOrigin: number; now(): number };
  MutationObserver: new (callback: () => void) => {
    observe(target: unknown, options: Record<string, unknown>): void;
  };
  __statusSeen: StatusSeen[];
  __statusNow: Record<string, string>;
}

export interface PageElement {
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  textContent: string | null;
}

/** A graph node showing a status, and when (epoch ms). */
export interface StatusSeen {
  key: string;
  status: string;
  at: number;
}
