import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { useServices } from '@drover/e2e-services';
import { waitFor } from '@drover/testing';
import { launchChromium, screenshot, type Browser } from './support/browser';
import { Api, signIn, streamIsLive } from './support/dashboard';

// The experiments pages (the agent x model matrix and the verdicts of a sweep run
// by the nop, oracle and command agents) and the runners page (each provider's
// running tasks against the scheduler's limit, the runner's slots and heartbeat).

const ROOT = join(__dirname, '../..');
const SWEEP = join(ROOT, 'examples/sweep');
const TEST_TIMEOUT_MS = 150_000;

interface ExperimentView {
  id: string;
  name: string;
  status: string;
  ticketId: string;
}

describe('the experiments and runners pages', () => {
  const { services, logged } = useServices({
    appEnv: { scheduler: { DROVER_CONCURRENCY: '{"claude":2,"default":3}' } },
  });
  let browser: Browser;
  const api = () => new Api(services().baseUrl, services().apiKey);

  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  let page: Page;
  beforeEach(async () => {
    page = await browser.newPage();
  });
  afterEach(async () => {
    await page.close();
    expect(browser.problems()).toEqual([]);
  });

  it(
    "shows an experiment's matrix filling in live, and each task's verdict",
    logged(async () => {
      const document = (name: string) => readFile(join(SWEEP, `${name}.md`), 'utf8');
      const names = ['answer', 'greeting', 'nothing-to-do'];
      const experiment = await api().json<ExperimentView>('POST', '/experiments', {
        name: 'browser-sweep',
        agents: ['nop', 'oracle', 'command'],
        analysis: { command: await readFile(join(SWEEP, 'classify.sh'), 'utf8') },
        tasks: await Promise.all(
          names.map(async (name) => ({ name, document: await document(name) })),
        ),
      });
      const { baseUrl, apiKey } = services();
      await signIn(page, baseUrl, apiKey, '/ui/experiments');
      await streamIsLive(page);
      await page.locator(`tr[data-experiment-id="${experiment.id}"]`).getByRole('link').click();
      await page.locator('.page-head h1', { hasText: 'browser-sweep' }).waitFor();
      // The page was open before the trials ended: it follows them to the end.
      await page.locator('.page-head [data-status="SUCCEEDED"]').waitFor({ timeout: 90_000 });

      const cell = (agent: string) =>
        page.locator(`[data-testid="matrix"] td[data-agent="${agent}"][data-model=""]`);
      const rate = async (agent: string) =>
        (await cell(agent).getByTestId('pass-rate').textContent())?.trim();
      expect(await page.locator('[data-testid="matrix"] tbody tr').count()).toBe(3);
      expect(await rate('oracle')).toBe('100%');
      expect(await rate('command')).toBe('67%');
      expect(await rate('nop')).toBe('33%');
      expect(await cell('command').textContent()).toContain('2/3 passed');

      const verdict = (task: string) =>
        page.locator(`[data-testid="verdicts"] tr[data-task="${task}"] [data-verdict]`);
      expect(await verdict('answer').getAttribute('data-verdict')).toBe('unsolved');
      expect(await verdict('greeting').getAttribute('data-verdict')).toBe('solved');
      expect(await verdict('nothing-to-do').getAttribute('data-verdict')).toBe('trivial');
      expect(await page.locator('[data-testid="trials"] tbody tr').count()).toBe(9);
      await screenshot(page, 'experiment');

      await page.getByRole('link', { name: 'Experiments' }).first().click();
      const row = page.locator(`tr[data-experiment-id="${experiment.id}"]`);
      await row.locator('[data-status="SUCCEEDED"]').waitFor();
      expect(await row.textContent()).toContain('nop, oracle, command');
      await screenshot(page, 'experiments');
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    "shows each provider's running tasks against the scheduler's limit, the runner's slots and heartbeat, and says when no scheduler answers",
    logged(async () => {
      const { baseUrl, apiKey, runnerId } = services();
      const ticket = await api().json<{ id: string; tasks: { id: string }[] }>('POST', '/tickets', {
        title: 'browser runners',
        tasks: [
          { key: 'one', steps: [{ run: 'sleep 60' }] },
          { key: 'two', steps: [{ run: 'sleep 60' }] },
        ],
      });
      await waitFor(
        async () => {
          const t = await api().json<{ tasks: { status: string }[] }>(
            'GET',
            `/tickets/${ticket.id}`,
          );
          return t.tasks.every((task) => task.status === 'RUNNING');
        },
        'both tasks to run',
        60_000,
        200,
      );
      await signIn(page, baseUrl, apiKey, '/ui/runners');
      const provider = (name: string) =>
        page.locator(`[data-testid="providers"] tr[data-provider="${name}"]`);
      await provider('default').getByTestId('provider-load').filter({ hasText: '2 / 3' }).waitFor();
      expect(await provider('claude').getByTestId('provider-load').textContent()).toContain(
        '0 / 2',
      );
      const runner = page.locator(`[data-testid="runners"] tr[data-runner-id="${runnerId}"]`);
      // Four slots, two taken (free / total).
      await runner.getByTestId('slots').filter({ hasText: '2 / 4' }).waitFor({ timeout: 15_000 });
      expect(await runner.locator('[data-status="ONLINE"]').count()).toBe(1);
      expect(await runner.textContent()).toContain('shared');
      // Heartbeats every second: its age stays a few seconds at most, and keeps moving.
      const age = async () =>
        Number(
          /(\d+) s ago/.exec((await runner.getByTestId('heartbeat-age').textContent()) ?? '')?.[1],
        );
      expect(await age()).toBeLessThan(5);
      await screenshot(page, 'runners');

      await api().json('POST', `/tickets/${ticket.id}/cancel`);
      await provider('default').getByTestId('provider-load').filter({ hasText: '0 / 3' }).waitFor();

      // Without a scheduler the limits are unknown: the page says why and keeps the runners.
      await services().stopApp('scheduler');
      const alert = page.getByRole('alert');
      await alert.waitFor({ timeout: 15_000 });
      expect(await alert.textContent()).toMatch(/no scheduler answered/);
      expect(await runner.count()).toBe(1);
      await screenshot(page, 'runners-no-scheduler');
      // A scheduler back, the page shows the limits again by itself.
      services().startApp('scheduler');
      await alert.waitFor({ state: 'detached', timeout: 30_000 });
      expect(await provider('default').getByTestId('provider-load').textContent()).toContain(
        '0 / 3',
      );
    }),
    TEST_TIMEOUT_MS,
  );
});
