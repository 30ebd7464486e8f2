import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { useServices } from '@drover/e2e-services';
import { waitFor } from '@drover/testing';
import { launchChromium, screenshot, type Browser } from './support/browser';
import { Api, signIn, streamIsLive } from './support/dashboard';
import { issueKeys, type Keys } from './support/roles';

// Acting from the dashboard as a member: approve a gate, cancel (after a
// confirmation), answer requests for input (a secret one in a password field),
// rerun a task and a ticket. A viewer sees no button, and a 403 the API answers
// is shown as such. Screenshots: tmp/screenshots/<page>.png.

interface TaskView {
  id: string;
  key: string;
  status: string;
  attempt: number;
  approval: { decision: string | null; comment: string | null; decidedBy: string | null } | null;
  inputs: { name: string; secret: boolean; value: string | null; answeredBy: string | null }[];
}
interface TicketView {
  id: string;
  status: string;
  tasks: { id: string; key: string; status: string }[];
}

const TEST_TIMEOUT_MS = 150_000;

describe('acting from the dashboard', () => {
  const { services, logged } = useServices();
  let browser: Browser;
  let keys: Keys;
  let scratch: string;
  const api = () => new Api(services().baseUrl, services().apiKey);

  beforeAll(async () => {
    browser = await launchChromium();
    keys = await issueKeys(api());
    scratch = await mkdtemp(join(tmpdir(), 'drover-browser-actions-'));
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
    expect(browser.problems()).toEqual([]);
  });

  const submit = (title: string, tasks: object[]) =>
    api().json<TicketView>('POST', '/tickets', { title, tasks });

  const task = (id: string) => api().json<TaskView>('GET', `/tasks/${id}`);

  async function waitForStatus(id: string, status: string): Promise<TaskView> {
    let last: TaskView | undefined;
    await waitFor(
      async () => (last = await task(id)).status === status,
      `task ${id} to be ${status} (is ${last?.status ?? '?'})`,
      60_000,
      200,
    );
    return last as TaskView;
  }

  const ticketStatus = async (id: string) =>
    (await api().json<TicketView>('GET', `/tickets/${id}`)).status;

  /** The page's status badge in its head shows `status`. */
  const headShows = (status: string) =>
    page.locator(`.page-head [data-status="${status}"]`).waitFor({ timeout: 60_000 });

  const done = () => page.getByTestId('action-done');

  it(
    'approves a gate with a comment, and the task moves on',
    logged(async () => {
      const ticket = await submit('browser approval', [
        { key: 'gate', requires_approval: true, steps: [{ run: 'echo released' }] },
        { key: 'after', depends_on: ['gate'], steps: [{ run: 'true' }] },
      ]);
      const [gate, after] = ticket.tasks;
      await waitForStatus(gate.id, 'AWAITING_APPROVAL');
      await signIn(page, services().baseUrl, keys.member, `/ui/tasks/${gate.id}`);
      await streamIsLive(page);
      const form = page.getByRole('form', { name: 'approval' });
      await form.waitFor();
      await form.getByLabel(/Comment/).fill('reviewed in the browser');
      await screenshot(page, 'task-approval');
      await form.getByRole('button', { name: 'Approve' }).click();
      expect(await done().textContent()).toMatch(
        /^Approved: the task is now (ready|dispatched|running|succeeded)\.$/,
      );
      // The gate runs and the page follows it without a reload.
      await headShows('SUCCEEDED');
      const decided = await task(gate.id);
      expect(decided.approval).toMatchObject({
        decision: 'approved',
        comment: 'reviewed in the browser',
        decidedBy: 'browser-member',
      });
      await waitForStatus(after.id, 'SUCCEEDED');
      expect(await form.count()).toBe(0);
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    "shows a viewer no action button, and a 403 from the API as the API's refusal",
    logged(async () => {
      const ticket = await submit('browser viewer', [
        { key: 'gate', requires_approval: true, steps: [{ run: 'true' }] },
      ]);
      const gate = ticket.tasks[0];
      await waitForStatus(gate.id, 'AWAITING_APPROVAL');
      const { baseUrl } = services();
      await signIn(page, baseUrl, keys.viewer, `/ui/tasks/${gate.id}`);
      await page.locator('.page-head [data-status="AWAITING_APPROVAL"]').waitFor();
      await page.getByTestId('read-only-note').waitFor();
      expect(await page.locator('main button').count()).toBe(0);
      expect(await page.locator('main form, main textarea').count()).toBe(0);
      await screenshot(page, 'viewer-task');
      await page.goto(`${baseUrl}/ui/tickets/${ticket.id}`);
      await page.getByTestId('read-only-note').waitFor();
      expect(await page.locator('main button').count()).toBe(0);

      // A dashboard that took the viewer for a member (GET /me said so) still gets the API's 403.
      const fooled = await browser.newPage();
      try {
        await fooled.route('**/me', async (route) => {
          const res = await route.fetch();
          const who = (await res.json()) as Record<string, unknown>;
          await route.fulfill({ response: res, json: { ...who, role: 'member' } });
        });
        await signIn(fooled, baseUrl, keys.viewer, `/ui/tasks/${gate.id}`);
        await fooled.getByRole('button', { name: 'Approve' }).click();
        const alert = fooled.getByTestId('action-error');
        await alert.waitFor();
        expect(await alert.getAttribute('role')).toBe('alert');
        expect(await alert.textContent()).toMatch(
          /^Your key's role may not do this \(403 FORBIDDEN\): .+/,
        );
        await screenshot(fooled, 'action-refused');
      } finally {
        await fooled.close();
      }
      expect((await task(gate.id)).status).toBe('AWAITING_APPROVAL');
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'cancels a running task only once confirmed, blocking its dependent, and cancels a ticket',
    logged(async () => {
      const ticket = await submit('browser cancel', [
        { key: 'sleeper', steps: [{ run: 'sleep 120' }] },
        { key: 'after', depends_on: ['sleeper'], steps: [{ run: 'true' }] },
      ]);
      const [sleeper, after] = ticket.tasks;
      await waitForStatus(sleeper.id, 'RUNNING');
      await signIn(page, services().baseUrl, keys.member, `/ui/tasks/${sleeper.id}`);
      await streamIsLive(page);
      const dialog = page.getByRole('dialog', { name: 'Cancel task' });

      // "Keep" closes the question and changes nothing.
      await page.getByRole('button', { name: 'Cancel task' }).click();
      await dialog.waitFor();
      expect(await dialog.textContent()).toContain('the tasks that depend on it become blocked');
      await screenshot(page, 'task-cancel');
      await dialog.getByRole('button', { name: 'Keep' }).click();
      await dialog.waitFor({ state: 'hidden' });
      expect((await task(sleeper.id)).status).toBe('RUNNING');

      await page.getByRole('button', { name: 'Cancel task' }).click();
      await dialog.getByRole('button', { name: 'Yes, cancel it' }).click();
      expect(await done().textContent()).toBe('Cancelled sleeper; blocked after.');
      await headShows('CANCELLED');
      expect(await page.getByRole('button', { name: 'Cancel task' }).count()).toBe(0);
      expect((await task(after.id)).status).toBe('BLOCKED');

      const other = await submit('browser cancel ticket', [
        { key: 'one', steps: [{ run: 'sleep 120' }] },
        { key: 'two', steps: [{ run: 'sleep 120' }] },
      ]);
      await waitForStatus(other.tasks[0].id, 'RUNNING');
      await page.goto(`${services().baseUrl}/ui/tickets/${other.id}`);
      await page.getByRole('button', { name: 'Cancel ticket' }).click();
      const ask = page.getByRole('dialog', { name: 'Cancel ticket' });
      expect(await ask.textContent()).toContain('Its 2 open tasks are cancelled');
      await ask.getByRole('button', { name: 'Yes, cancel the ticket' }).click();
      expect(await done().textContent()).toMatch(/^Cancelled (one and two|two and one)\.$/);
      await headShows('CANCELLED');
      expect(await ticketStatus(other.id)).toBe('CANCELLED');
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'answers requests for input: a choice from a list, and a secret in a password field never shown',
    logged(async () => {
      const SECRET = `s3cret-${randomBytes(6).toString('hex')}`;
      // The run checks the answer by its hash: the secret is in no command line, so in no log.
      const digest = createHash('sha256').update(SECRET).digest('hex');
      const ask = (name: string, request: object, check: string) =>
        `if [ -z "$${name}" ]; then echo '${JSON.stringify({ name, ...request })}' > "$DROVER_REQUEST"; exit 3; fi; ${check}`;
      const ticket = await submit('browser input', [
        {
          key: 'channel',
          steps: [
            {
              run: ask(
                'CHANNEL',
                { prompt: 'Which channel?', choices: ['beta', 'stable'] },
                'test "$CHANNEL" = stable',
              ),
            },
          ],
        },
        {
          key: 'deploy',
          steps: [
            {
              run: ask(
                'TOKEN',
                { prompt: 'The deploy token', secret: true },
                `test "$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)" = ${digest}`,
              ),
            },
          ],
        },
      ]);
      const [channel, deploy] = ticket.tasks;
      await waitForStatus(channel.id, 'AWAITING_INPUT');
      await waitForStatus(deploy.id, 'AWAITING_INPUT');
      const { baseUrl } = services();

      await signIn(page, baseUrl, keys.member, `/ui/tasks/${channel.id}`);
      const choice = page.getByRole('form', { name: 'input request' });
      expect(await choice.textContent()).toContain('Which channel?');
      await choice.locator('select[name="value"]').selectOption('stable');
      await choice.getByRole('button', { name: 'Send answer' }).click();
      expect(await done().textContent()).toMatch(/^Answered CHANNEL: the task is now /);
      await headShows('SUCCEEDED');

      await page.goto(`${baseUrl}/ui/tasks/${deploy.id}`);
      const form = page.getByRole('form', { name: 'input request' });
      expect(await form.textContent()).toContain('The deploy token');
      const field = form.locator('input[name="value"]');
      expect(await field.getAttribute('type')).toBe('password');
      await field.fill(SECRET);
      // Typed, it is in no attribute of the page.
      expect(await page.content()).not.toContain(SECRET);
      await screenshot(page, 'task-input');
      await form.getByRole('button', { name: 'Send answer' }).click();
      expect(await done().textContent()).toMatch(/^Answered TOKEN: the task is now /);
      // The task ran again with the value: its check of it passed.
      await headShows('SUCCEEDED');
      expect(await page.content()).not.toContain(SECRET);
      const answered = await task(deploy.id);
      expect(answered.inputs).toEqual([
        expect.objectContaining({
          name: 'TOKEN',
          secret: true,
          value: null,
          answeredBy: 'browser-member',
        }),
      ]);
      expect(JSON.stringify(answered)).not.toContain(SECRET);
    }),
    TEST_TIMEOUT_MS,
  );

  it(
    'reruns a failed task from its page, then the rest of the failed ticket from its page',
    logged(async () => {
      const failsOnce = (name: string) => {
        const marker = join(scratch, `${name}-${randomBytes(3).toString('hex')}`);
        return `if [ -e '${marker}' ]; then echo again; else touch '${marker}'; exit 1; fi`;
      };
      const ticket = await submit('browser rerun', [
        { key: 'alpha', retry: { max_attempts: 1 }, steps: [{ run: failsOnce('alpha') }] },
        { key: 'beta', retry: { max_attempts: 1 }, steps: [{ run: failsOnce('beta') }] },
      ]);
      const [alpha, beta] = ticket.tasks;
      await waitForStatus(alpha.id, 'FAILED');
      await waitForStatus(beta.id, 'FAILED');
      await waitFor(
        async () => (await ticketStatus(ticket.id)) === 'FAILED',
        'the ticket to fail',
        30_000,
      );
      const { baseUrl } = services();

      await signIn(page, baseUrl, keys.member, `/ui/tasks/${alpha.id}`);
      await streamIsLive(page);
      await page.getByRole('button', { name: 'Rerun task' }).click();
      expect(await done().textContent()).toBe('1 task waits to run again: alpha.');
      await headShows('SUCCEEDED');
      expect((await task(alpha.id)).attempt).toBe(2);
      await screenshot(page, 'task-rerun');

      await waitFor(
        async () => (await ticketStatus(ticket.id)) === 'FAILED',
        'the ticket to fail again',
        30_000,
      );
      await page.goto(`${baseUrl}/ui/tickets/${ticket.id}`);
      await page.getByRole('button', { name: 'Rerun failed tasks' }).click();
      expect(await done().textContent()).toBe('1 task waits to run again: beta.');
      await headShows('SUCCEEDED');
      await page
        .locator('[data-testid="task-counts"] [data-status="SUCCEEDED"]', {
          hasText: '2 succeeded',
        })
        .waitFor();
      expect(await page.getByRole('button', { name: 'Rerun failed tasks' }).count()).toBe(0);
      await screenshot(page, 'ticket-rerun');
    }),
    TEST_TIMEOUT_MS,
  );
});
