import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { useServices } from '@drover/e2e-services';
import { appendToOutbox } from '@drover/events';
import { waitFor } from '@drover/testing';
import { taskChanged } from '@drover/workflow';
import { launchChromium, SCREENSHOTS, type Browser } from './support/browser';
import { signIn, streamIsLive, type PageGlobals } from './support/dashboard';

// A ticket of 2,000 tasks (40 layers of 50, each task after one of the layer
// before) opens and stays responsive, and a burst of 2,000 events a second for
// three seconds reaches the page whole: every sequence number once, in order.
// The test prints what it measured. No runner: nothing runs the tasks (their
// roots wait for approval), so every change on the page comes from the burst.

const TASKS = 2000;
const WIDTH = 50;
/** Events a second, and for how long. */
const RATE = 2000;
const SECONDS = 3;
const TEST_TIMEOUT_MS = 170_000;

interface Probe {
  longTasks: number[];
  maxLagMs: number;
  frames: number[];
  streamStates: string[];
}

/** The browser globals the probe uses (the test program has no DOM types). */
interface ProbeGlobals {
  __probe: Probe;
  performance: { now(): number };
  setInterval(fn: () => void, ms: number): void;
  PerformanceObserver: new (callback: (list: { getEntries(): { duration: number }[] }) => void) => {
    observe(options: { type: string; buffered: boolean }): void;
  };
  WebSocket: new (url: string, protocols?: string | string[]) => ProbeSocket;
}
interface ProbeSocket {
  addEventListener(type: 'message', listener: (message: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (event: { code: number }) => void): void;
  addEventListener(type: 'open', listener: () => void): void;
}

/** What the page records about itself, from before its own scripts run. */
async function instrument(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const w = globalThis as unknown as ProbeGlobals;
    const probe: Probe = { longTasks: [], maxLagMs: 0, frames: [], streamStates: [] };
    w.__probe = probe;
    new w.PerformanceObserver((list) => {
      for (const entry of list.getEntries()) probe.longTasks.push(entry.duration);
    }).observe({ type: 'longtask', buffered: true });
    // How late a 50 ms timer fires: the main thread's lag as a person would feel it.
    let expected = w.performance.now() + 50;
    w.setInterval(() => {
      const now = w.performance.now();
      probe.maxLagMs = Math.max(probe.maxLagMs, now - expected);
      expected = now + 50;
    }, 50);
    // Every event frame the page's WebSocket receives, by sequence (duplicates kept).
    const Native = w.WebSocket;
    w.WebSocket = class extends Native {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols);
        this.addEventListener('message', (message) => {
          if (typeof message.data !== 'string') return;
          const seq = /"seq":(\d+)/.exec(message.data);
          if (seq) probe.frames.push(Number(seq[1]));
        });
        this.addEventListener('close', (e: { code: number }) =>
          probe.streamStates.push(`closed ${e.code}`),
        );
        this.addEventListener('open', () => probe.streamStates.push('open'));
      }
    };
  });
}

/** The visible part only: the whole page of 2,000 rows is some 90,000 pixels tall. */
async function viewShot(page: Page, name: string): Promise<void> {
  await mkdir(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`) });
}

const probeOf = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { __probe: Probe }).__probe);

describe('a 2,000-task ticket in the dashboard', () => {
  const { services, logged } = useServices({ runner: false });
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
  });

  let page: Page;
  beforeEach(async () => {
    page = await browser.newPage();
    await instrument(page);
  });
  afterEach(async () => {
    await page.close();
    expect(browser.problems()).toEqual([]);
  });

  async function submitLargeTicket(): Promise<{
    id: string;
    tasks: { id: string; key: string }[];
  }> {
    const tasks = Array.from({ length: TASKS }, (_, i) => ({
      key: `t${i}`,
      ...(i < WIDTH ? { requires_approval: true } : { depends_on: [`t${i - WIDTH}`] }),
      steps: [{ run: 'true' }],
    }));
    const res = await fetch(`${services().baseUrl}/tickets`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${services().apiKey}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ title: 'browser load', tasks }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { id: string; tasks: { id: string; key: string }[] };
  }

  it(
    'opens quickly, stays responsive, and takes a burst of 2,000 events a second without a gap',
    logged(async () => {
      const { baseUrl, apiKey, env } = services();
      const ticket = await submitLargeTicket();
      await signIn(page, baseUrl, apiKey);
      await streamIsLive(page);

      // Loaded afresh: the figures count from the navigation's start (bundle, key check, read).
      const opened = Date.now();
      await page.goto(`${baseUrl}/ui/tickets/${ticket.id}`);
      await page.locator('[data-testid="tasks"] tr[data-task-key]').first().waitFor();
      const rowsAt = await page.evaluate(() =>
        (globalThis as unknown as PageGlobals).performance.now(),
      );
      const canvas = page.getByTestId('graph-canvas');
      await canvas.waitFor();
      // Interactive: the main thread answers a task posted now.
      const interactiveAt = await page.evaluate(
        () =>
          new Promise<number>((resolve) =>
            setTimeout(() => resolve((globalThis as unknown as PageGlobals).performance.now()), 0),
          ),
      );
      const interactiveWall = Date.now() - opened;
      const load = await probeOf(page);
      const layoutMs = Number(await canvas.getAttribute('data-layout-ms'));
      const rowsInPage = await page.locator('[data-testid="tasks"] tr[data-task-key]').count();
      console.log(
        [
          `2,000-task ticket: first rows ${rowsAt.toFixed(0)} ms after navigation start,`,
          `interactive at ${interactiveAt.toFixed(0)} ms (${interactiveWall} ms from goto);`,
          `graph layout ${layoutMs} ms (layered, canvas); rows in the page ${rowsInPage} of ${TASKS};`,
          `long tasks while loading: ${load.longTasks.length}, longest ${Math.max(0, ...load.longTasks).toFixed(0)} ms`,
        ].join(' '),
      );
      expect(interactiveAt).toBeLessThan(10_000);
      expect(rowsInPage).toBeLessThan(200);
      expect(Number(await page.getByTestId('tasks').getAttribute('data-rows'))).toBe(TASKS);
      await viewShot(page, 'ticket-2000');

      // Scrolled to the end, the last tasks' rows are there (and the first ones gone). Rows
      // measured on the way change the page's height: scroll again until the end holds.
      const last = page.locator(`[data-testid="tasks"] tr[data-task-key="t${TASKS - 1}"]`);
      await waitFor(
        async () => {
          await page.evaluate(() => {
            const w = globalThis as unknown as {
              scrollTo(x: number, y: number): void;
              document: { body: { scrollHeight: number } };
            };
            w.scrollTo(0, w.document.body.scrollHeight);
          });
          return (await last.count()) === 1;
        },
        'the last row once scrolled to the end',
        10_000,
        200,
      );
      expect(await page.locator('[data-testid="tasks"] tr[data-task-key="t0"]').count()).toBe(0);
      await page.evaluate(() =>
        (globalThis as unknown as { scrollTo(x: number, y: number): void }).scrollTo(0, 0),
      );

      // The burst: every task DISPATCHED, RUNNING then SUCCEEDED, written as the
      // orchestrator writes them (the outbox, relayed and sequenced), RATE a second.
      const before = await probeOf(page);
      const receivedBefore = Number(
        await page.getByTestId('stream-state').getAttribute('data-received'),
      );
      const steps = [
        ['DISPATCHED', 'PENDING'],
        ['RUNNING', 'DISPATCHED'],
        ['SUCCEEDED', 'RUNNING'],
      ] as const;
      const messages = steps.flatMap(([status, previous]) =>
        ticket.tasks.map((t) => taskChanged({ ...t, ticketId: ticket.id }, status, previous)),
      );
      expect(messages).toHaveLength(RATE * SECONDS);
      // The ticket's own events (its submission's) came before: the burst's come after this id.
      const since = (await env.prisma.event.aggregate({ _max: { id: true } }))._max.id ?? 0n;
      const slice = RATE / 5;
      const started = Date.now();
      for (let i = 0; i < messages.length; i += slice) {
        const due = started + (i / RATE) * 1000;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
        await env.prisma.$transaction((tx) => appendToOutbox(tx, messages.slice(i, i + slice)));
      }
      const written = Date.now() - started;
      const seqs = async () =>
        (
          await env.prisma.event.findMany({
            where: { id: { gt: since }, ticketId: ticket.id, seq: { not: null } },
            select: { seq: true },
            orderBy: { seq: 'asc' },
          })
        ).map((e) => Number(e.seq));
      let sequenced: number[] = [];
      await waitFor(
        async () => (sequenced = await seqs()).length === messages.length,
        'the relay to sequence every event',
        60_000,
        200,
      );
      const received = async () =>
        Number(await page.getByTestId('stream-state').getAttribute('data-received')) -
        receivedBefore;
      await waitFor(
        async () => (await received()) >= messages.length,
        'the page to receive every event',
        60_000,
        100,
      );
      const arrived = Date.now() - started;
      const after = await probeOf(page);

      // Every sequence once, in order: what the page's socket got (a reconnection may
      // resend some), what the page took in (duplicates dropped), and nothing else.
      const frames = after.frames.slice(before.frames.length).filter((s) => s >= sequenced[0]);
      expect([...new Set(frames)].sort((a, b) => a - b)).toEqual(sequenced);
      for (let i = 1; i < frames.length; i++) {
        if (frames[i] <= frames[i - 1])
          expect(after.streamStates.length).toBeGreaterThan(before.streamStates.length);
      }
      expect(await received()).toBe(messages.length);
      expect(Number(await page.getByTestId('stream-state').getAttribute('data-last-seq'))).toBe(
        sequenced.at(-1),
      );
      // Applied in order: the last change of each task is the one shown.
      await page
        .locator('[data-testid="task-counts"] [data-status="SUCCEEDED"]', {
          hasText: `${TASKS} succeeded`,
        })
        .first()
        .waitFor();
      const longTasks = after.longTasks.slice(before.longTasks.length);
      const reconnections = after.streamStates.slice(before.streamStates.length);
      console.log(
        [
          `burst: ${messages.length} events written in ${written} ms (${((messages.length / written) * 1000).toFixed(0)}/s),`,
          `all on the page ${arrived} ms after the first; frames received ${frames.length} (duplicates ${frames.length - new Set(frames).size});`,
          `stream closes and opens during it: ${reconnections.join(', ') || 'none'};`,
          `long tasks during it: ${longTasks.length}, longest ${Math.max(0, ...longTasks).toFixed(0)} ms; worst timer lag ${after.maxLagMs.toFixed(0)} ms`,
        ].join(' '),
      );
      // Still responsive after it: a task posted now runs within a frame or two.
      const lag = await page.evaluate(() => {
        const w = globalThis as unknown as PageGlobals;
        const asked = w.performance.now();
        return new Promise<number>((resolve) =>
          setTimeout(() => resolve(w.performance.now() - asked), 0),
        );
      });
      expect(lag).toBeLessThan(100);
      await viewShot(page, 'ticket-2000-burst');

      // The probe itself works: a task of 120 ms the page runs is seen as a long task.
      const seen = (await probeOf(page)).longTasks.length;
      await page.evaluate(() => {
        const w = globalThis as unknown as PageGlobals;
        setTimeout(() => {
          const end = w.performance.now() + 120;
          while (w.performance.now() < end);
        }, 0);
      });
      await waitFor(
        async () => (await probeOf(page)).longTasks.slice(seen).some((ms) => ms >= 100),
        'the long-task probe to see a task made long',
        5_000,
        100,
      );

      // A node of the drawn graph opens its task: t0 is at the top left.
      const box = await page.getByTestId('graph-canvas').boundingBox();
      if (!box) throw new Error('the graph is not on the page');
      await page.mouse.click(box.x + 40, box.y + 30);
      const first = ticket.tasks.find((t) => t.key === 't0');
      await page.waitForURL(`${baseUrl}/ui/tasks/${first?.id ?? ''}`);
      await page.locator('.page-head h1', { hasText: 't0' }).waitFor();
    }),
    TEST_TIMEOUT_MS,
  );
});
