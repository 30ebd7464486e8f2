import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const ROOT = join(__dirname, '../../..');

/** Debian's Chromium (`npm test` installs it where missing: tools/lib/chromium.mjs). */
export const CHROMIUM = '/usr/bin/chromium';

/**
 * Headless, and without the background traffic (component updates, sync,
 * QUIC probes) that gets connections refused on a machine with no network.
 */
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Where each page's screenshot goes (CI keeps the folder as artifact files). */
export const SCREENSHOTS = join(ROOT, 'tmp/screenshots');

export interface Browser {
  /** A new tab; what it reports as a problem (below) is collected. */
  newPage(): Promise<Page>;
  /**
   * Uncaught errors in the dashboard and Content-Security-Policy violations, in
   * every tab so far: a test that ends with any has found a defect.
   */
  problems(): string[];
  close(): Promise<void>;
}

/** Launches Chromium with a fresh profile (removed by `close`). */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: install Debian's (as root: apt-get update && apt-get install -y chromium); npm test does it on a Debian or Ubuntu machine as root`,
    );
  }
  const profile = await mkdtemp(join(tmpdir(), 'drover-chromium-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport: { width: 1280, height: 900 },
      acceptDownloads: true,
    });
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) problems.push(message.text());
    });
  };
  for (const page of context.pages()) watch(page);
  context.on('page', watch);
  return {
    newPage: () => context.newPage(),
    problems: () => [...problems],
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Saves `tmp/screenshots/<name>.png` (the whole page). */
export async function screenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
