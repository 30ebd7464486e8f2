import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { useServices } from '@drover/e2e-services';
import { EventStreamClient, testGit, waitFor } from '@drover/testing';
import { launchChromium, screenshot, type Browser } from './support/browser';
import {
  Api,
  median,
  recordGraphStatuses,
  signIn,
  streamIsLive,
  type PageGlobals,
} from './support/dashboard';

// The dashboard in Debian's Chromium against the five built services (process
// sandbox): signing in, a ticket's graph turning green live, a log followed across
// a retry and a dropped connection, an artifact downloaded, the diff and the result.
// Each page's screenshot goes to tmp/screenshots/<page>.png.

interface TicketView {
  id: string;
  status: string;
  tasks: { id: string; key: string; status: string }[];
}
interface TaskView {
  id: string;
  status: string;
  runs: { id: string; attempt: number; status: string }[];
}
interface LogsView {
  totalLines: number;
  lines: { n: number; text: string }[];
  nextAfter: number | null;
}
interface Listing {
  items: { name: string; size: number; sha256: string }[];
}

/** Per test: `npm test`'s one Jest run keeps only its global timeout (30 s), not this project's. */
const TEST_TIMEOUT_MS = 150_000;

describe('the dashboard in a browser', () => {
  const { services, logged } = useServices({ env: { RUNNER_ALLOW_LOCAL_REPOS: 'true' } });
  let browser: Browser;
  let scratch: string;
  const api = () => new Api(services().baseUrl, services().apiKey);

  beforeAll(async () => {
    browser = await launchChromium();
    scratch = await mkdtemp(join(tmpdir(), 'drover-browser-'));
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  let page: Page;
  beforeEach(async () => {
    page = await browser.newPage();
  });
  afterEach(async () => {
    await page.close();
    // An uncaught error in the dashboard, or anything the page's policy blocked, is a defect.
    expect(browser.problems()).toEqual([]);
  });

  async function waitForTask(id: string, done: (t: TaskView) => boolean, what: string) {
    let last: TaskView | undefined;
    await waitFor(
      async () => done((last = await api().json<TaskView>('GET', `/tasks/${id}`))),
      what,
      90_000,
      200,
    );
    return last as TaskView;
  }

  it(
    'refuses a wrong key on the sign-in form, saying so, and keeps nothing',
    logged(async () => {
      await page.goto(`${services().baseUrl}/ui`);
      await page.locator('#api-key').fill('drv_0123456789abcdef_not-the-right-secret');
      await page.getByRole('button', { name: 'Sign in' }).click();
      const alert = page.getByRole('alert');
      await alert.waitFor();
      expect(await alert.textContent()).toMatch(/refused: it is wrong, expired or revoked/);
      await screenshot(page, 'sign-in');
      expect(await page.locator('header .who').count()).toBe(0);
      expect(page.url()).not.toContain('drv_');
      const storage = await page.evaluate(() => {
        const w = globalThis as unknown as PageGlobals;
        return [w.sessionStorage.length, w.localStorage.length];
      });
      expect(storage).toEqual([0, 0]);
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'signs in with a key kept in this tab only, keeps it across a reload, and signs out',
    logged(async () => {
      const { baseUrl, apiKey } = services();
      await signIn(page, baseUrl, apiKey);
      expect(await page.locator('header .who').textContent()).toContain('admin');
      await streamIsLive(page);
      const stored = () =>
        page.evaluate(() => {
          const w = globalThis as unknown as PageGlobals;
          return {
            session: w.sessionStorage.getItem('drover.apiKey'),
            local: w.localStorage.length,
            url: w.location.href,
          };
        });
      expect(await stored()).toEqual({ session: apiKey, local: 0, url: `${baseUrl}/ui` });

      await page.reload();
      await page.locator('header .who').waitFor();
      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.locator('#api-key').waitFor();
      expect(await stored()).toMatchObject({ session: null, local: 0 });
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'shows a ticket submitted through the API and turns its graph green live',
    logged(async () => {
      const { baseUrl, apiKey, wsUrl } = services();
      await recordGraphStatuses(page);
      await signIn(page, baseUrl, apiKey);
      await streamIsLive(page);
      const events = await EventStreamClient.connect(`${wsUrl}/events`, apiKey);
      try {
        const title = `browser graph ${randomBytes(3).toString('hex')}`;
        const ticket = await api().json<TicketView>('POST', '/tickets', {
          title,
          tasks: [
            { key: 'fetch', steps: [{ run: 'sleep 2' }] },
            { key: 'build', depends_on: ['fetch'], steps: [{ run: 'sleep 1' }] },
            { key: 'lint', depends_on: ['fetch'], steps: [{ run: 'sleep 1' }] },
            { key: 'test', depends_on: ['build', 'lint'], steps: [{ run: 'sleep 1' }] },
            { key: 'ship', depends_on: ['test'], steps: [{ run: 'sleep 0.5' }] },
          ],
        });
        // The list shows the new ticket by itself; a click opens it without reloading.
        const row = page.locator(`tr[data-ticket-id="${ticket.id}"]`);
        await row.getByRole('link', { name: title }).click();
        const nodes = page.locator('g[data-task-key]');
        await nodes.first().waitFor();
        expect(await nodes.count()).toBe(5);
        const shownAt = Date.now();
        await page.waitForFunction(
          () =>
            Array.from(
              (globalThis as unknown as PageGlobals).document.querySelectorAll('g[data-task-key]'),
            ).every((g) => g.getAttribute('data-status') === 'SUCCEEDED'),
          undefined,
          { timeout: 60_000 },
        );
        expect(await page.locator('g.graph-node.tone-good').count()).toBe(5);
        await page.locator('.page-head [data-status="SUCCEEDED"]').waitFor();
        await screenshot(page, 'ticket');

        // From each task change (its event's time) to the graph showing it.
        await events.waitForEvent(
          (e) => e.type === 'ticket.changed' && e.data.ticketId === ticket.id,
          'the ticket to end',
        );
        const seen = await page.evaluate(() => (globalThis as unknown as PageGlobals).__statusSeen);
        const latencies: number[] = [];
        for (const e of events.events) {
          if (e.type !== 'task.changed' || e.data.ticketId !== ticket.id) continue;
          const at = Date.parse(e.occurredAt);
          if (at < shownAt) continue;
          const shown = seen.find(
            (s) => s.key === e.data.key && s.status === e.data.status && s.at >= at - 5,
          );
          if (shown) latencies.push(shown.at - at);
        }
        // Every task's SUCCEEDED came after the graph was up: five at least.
        expect(latencies.length).toBeGreaterThanOrEqual(5);
        const mid = median(latencies);
        console.log(
          `task change (event time) to the dashboard showing it: median ${mid.toFixed(0)} ms over ${latencies.length} changes (min ${Math.min(...latencies).toFixed(0)}, max ${Math.max(...latencies).toFixed(0)})`,
        );
        expect(mid).toBeLessThan(3000);

        // Back on the list, the ticket is final with its five tasks counted.
        await page.getByRole('navigation').getByRole('link', { name: 'Tickets' }).click();
        const counts = page.locator(
          `tr[data-ticket-id="${ticket.id}"] [data-testid="task-counts"]`,
        );
        await counts.locator('[data-status="SUCCEEDED"]', { hasText: '5 succeeded' }).waitFor();
        await page.locator('input[type="search"]').fill(title);
        expect(await page.locator('tbody tr').count()).toBe(1);
        await screenshot(page, 'tickets');
      } finally {
        await events.close();
      }
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    "follows a running task's log as lines arrive, into its retry, and across a dropped connection",
    logged(async () => {
      const { baseUrl, apiKey } = services();
      const marker = join(scratch, `tried-${randomBytes(3).toString('hex')}`);
      const script = [
        `if [ -e '${marker}' ]; then`,
        '  i=1; while [ $i -le 40 ]; do echo "line $i"; i=$((i+1)); sleep 0.15; done',
        'else',
        `  touch '${marker}'`,
        '  i=1; while [ $i -le 12 ]; do echo "first try $i"; i=$((i+1)); sleep 0.4; done',
        '  exit 3',
        'fi',
      ].join('\n');
      const ticket = await api().json<TicketView>('POST', '/tickets', {
        title: 'browser log',
        tasks: [
          {
            key: 'chatty',
            steps: [{ run: script }],
            retry: { max_attempts: 2, backoff_seconds: 0, retry_on: ['AGENT_FAILED'] },
          },
        ],
      });
      const taskId = ticket.tasks[0].id;
      await waitForTask(taskId, (t) => t.status === 'RUNNING', 'the first attempt to run');
      await signIn(page, baseUrl, apiKey, `/ui/tasks/${taskId}`);
      const log = page.locator('.log-lines');
      const count = async () => Number(await log.getAttribute('data-line-count'));

      // The first attempt's lines arrive while it runs...
      await page.locator('.log-text', { hasText: 'first try 2' }).waitFor();
      // ...then the page follows the retry by itself.
      await page.locator('.tabs-title', { hasText: 'Attempt #2' }).waitFor({ timeout: 30_000 });
      await page.locator('.log-text', { hasText: /^line 3$/ }).waitFor();
      const before = await count();
      await waitFor(async () => (await count()) > before, 'new lines to arrive', 10_000, 50);
      await screenshot(page, 'task-log');

      // The gateway goes away mid-run and comes back: the stream resumes from its last event.
      await services().stopApp('gateway');
      await page.locator('[data-testid="stream-state"]', { hasText: 'reconnecting' }).waitFor();
      services().startApp('gateway');
      await streamIsLive(page);

      const task = await waitForTask(taskId, (t) => t.status === 'SUCCEEDED', 'the retry to end');
      const run = task.runs.find((r) => r.attempt === 2);
      if (!run) throw new Error('no second run');
      const stored = await api().json<LogsView>('GET', `/runs/${run.id}/logs?limit=5000`);
      await waitFor(async () => (await count()) === stored.totalLines, 'every line', 20_000, 100);
      const shown = await page.evaluate(() =>
        Array.from(
          (globalThis as unknown as PageGlobals).document.querySelectorAll('.log-line'),
        ).map((line) => ({
          n: Number(line.getAttribute('data-n')),
          text: line.querySelector('.log-text')?.textContent ?? '',
        })),
      );
      // Every line once, in order, exactly as stored: none lost, none twice.
      expect(shown).toEqual(stored.lines.map(({ n, text }) => ({ n, text })));
      const numbered = shown.map((l) => l.text).filter((t) => /^line \d+$/.test(t));
      expect(numbered).toEqual(Array.from({ length: 40 }, (_, i) => `line ${i + 1}`));
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'shows a long log a screenful at a time, following its end',
    logged(async () => {
      const { baseUrl, apiKey } = services();
      const ticket = await api().json<TicketView>('POST', '/tickets', {
        title: 'browser long log',
        tasks: [{ key: 'long', steps: [{ run: 'seq 1 3000' }] }],
      });
      const taskId = ticket.tasks[0].id;
      const task = await waitForTask(taskId, (t) => t.status === 'SUCCEEDED', 'the task to end');
      const stored = await api().json<LogsView>('GET', `/runs/${task.runs[0].id}/logs?limit=1`);
      await signIn(page, baseUrl, apiKey, `/ui/tasks/${taskId}`);
      const log = page.locator('.log-lines');
      await page.locator(`.log-lines[data-line-count="${stored.totalLines}"]`).waitFor();
      // Only what is in view (and a margin) is in the page, and the view is at the end.
      await page.locator('.log-text', { hasText: /^3000$/ }).waitFor();
      const inPage = await page.locator('.log-line').count();
      expect(inPage).toBeGreaterThan(10);
      expect(inPage).toBeLessThan(200);
      await log.evaluate((el: { scrollTop: number }) => {
        el.scrollTop = 0;
      });
      await page.locator('.log-text', { hasText: /^1$/ }).waitFor();
      expect(await page.locator('.log-text', { hasText: /^3000$/ }).count()).toBe(0);
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'downloads an artifact byte for byte, and renders the diff and the result',
    logged(async () => {
      const { baseUrl, apiKey } = services();
      const repo = join(scratch, 'calculator');
      const git = (...args: string[]) => testGit(scratch, repo, ...args);
      await mkdir(join(repo, 'src'), { recursive: true });
      await writeFile(join(repo, 'src/add.sh'), '#!/bin/sh\necho $(( $1 - $2 ))\n');
      await writeFile(
        join(repo, 'test.sh'),
        '#!/bin/sh\ngot=$(sh src/add.sh 2 3)\n[ "$got" = 5 ] || { echo "add 2 3: expected 5, got $got"; exit 1; }\n',
      );
      await writeFile(join(repo, '.gitignore'), '.tries\n');
      await git('init', '-q', '-b', 'main');
      await git('add', '-A');
      await git('commit', '-q', '-m', 'a calculator with a bug');
      const ticket = await api().json<TicketView>('POST', '/tickets', {
        title: 'browser diff',
        tasks: [
          {
            key: 'fix-add',
            agent: 'command',
            repo,
            clone_branch: 'main',
            steps: [
              {
                run: [
                  'n=$(( $(cat .tries 2>/dev/null || echo 0) + 1 )); echo $n > .tries',
                  "if [ $n -eq 1 ]; then printf '#!/bin/sh\\necho $(( $2 - $1 ))\\n' > src/add.sh;",
                  "else printf '#!/bin/sh\\necho $(( $1 + $2 ))\\n' > src/add.sh; fi",
                  // What a run writes is shown as text, never run as markup.
                  `printf '%s\\n' '<img src=x onerror="document.title=1">' > src/notes.html`,
                ].join('\n'),
              },
            ],
            acceptance_commands: ['sh test.sh'],
            max_iterations: 3,
            allowed_paths: ['src/**'],
          },
        ],
      });
      const taskId = ticket.tasks[0].id;
      const task = await waitForTask(
        taskId,
        (t) => t.status === 'SUCCEEDED' || t.status === 'FAILED',
        'the fix to end',
      );
      expect(task.status).toBe('SUCCEEDED');
      const runId = task.runs[0].id;
      const listing = await api().json<Listing>('GET', `/runs/${runId}/artifacts`);
      const wanted = listing.items.find((a) => a.name === 'iteration-1.log');
      if (!wanted) throw new Error(`no iteration-1.log in ${JSON.stringify(listing)}`);

      await signIn(page, baseUrl, apiKey, `/ui/tasks/${taskId}?view=artifacts`);
      const button = page.getByRole('button', { name: 'iteration-1.log' });
      const [download] = await Promise.all([page.waitForEvent('download'), button.click()]);
      expect(download.suggestedFilename()).toBe('iteration-1.log');
      const saved = await readFile(await download.path());
      const expected = await api().bytes(`/runs/${runId}/artifacts/iteration-1.log`);
      expect(saved.equals(expected)).toBe(true);
      expect(saved.length).toBe(wanted.size);
      expect(createHash('sha256').update(saved).digest('hex')).toBe(wanted.sha256);
      expect(download.url()).toMatch(/^blob:/);
      await screenshot(page, 'artifacts');

      await page.getByRole('tab', { name: 'diff' }).click();
      const diff = page.locator('.diff .d2h-wrapper');
      await diff.waitFor();
      const files = await page.locator('.diff .d2h-file-header .d2h-file-name').allTextContents();
      expect(files.map((f) => f.trim()).sort()).toEqual(['src/add.sh', 'src/notes.html']);
      expect(await page.locator('.diff').textContent()).toContain(
        '<img src=x onerror="document.title=1">',
      );
      expect(await page.locator('.diff img').count()).toBe(0);
      expect(await page.title()).toBe('Drover');
      await screenshot(page, 'diff');

      await page.getByRole('tab', { name: 'result' }).click();
      await page.locator('[data-testid="iterations"]', { hasText: '2' }).waitFor();
      const acceptance = await page
        .locator('[data-testid="iterations-table"] .acceptance li')
        .allTextContents();
      expect(acceptance.map((a) => a.replace(/\s+/g, ' ').slice(0, 13))).toEqual([
        '✗ sh test.sh ',
        '✓ sh test.sh ',
      ]);
      await screenshot(page, 'result');
    }),
    TEST_TIMEOUT_MS,
  );
});
