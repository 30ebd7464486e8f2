import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { waitFor } from '@drover/testing';
import { buildCli, CLI_BIN, cliEnv, useServices } from './support/services';

// The `drover` CLI as a user runs it: the built bin, spawned as a process against
// the five services, on every example in examples/ exactly as the README shows it.

const ROOT = join(__dirname, '../..');

interface Task {
  id: string;
  key: string;
  status: string;
  reason: string | null;
}
interface Ticket {
  id: string;
  status: string;
  tasks: Task[];
}
interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const { services, logged } = useServices();

beforeAll(buildCli, 120_000);

/** Runs `drover ...args` (stdin written and closed when given) and waits for its exit. */
function drover(args: string[], stdin?: string): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_BIN, ...args], {
      cwd: ROOT,
      env: cliEnv(services()),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

async function json<T>(args: string[]): Promise<T> {
  const result = await drover(['--json', ...args]);
  if (result.code !== 0)
    throw new Error(`drover ${args.join(' ')}: ${result.code} ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

function task(ticket: Ticket, key: string): Task {
  const found = ticket.tasks.find((t) => t.key === key);
  if (!found) throw new Error(`no task ${key} in ${ticket.id}`);
  return found;
}

/** Submits an example without waiting, then waits (through `drover status`) for `key` to be `status`. */
async function submitUntil(file: string, key: string, status: string) {
  const { tickets } = await json<{ tickets: Ticket[] }>(['submit', file]);
  const [ticket] = tickets;
  const waiting = await waitFor(
    async () => {
      const now = await json<Ticket>(['status', ticket.id]);
      const t = task(now, key);
      return t.status === status ? t : undefined;
    },
    `${key} ${status}`,
    60_000,
  );
  return { ticket, waiting };
}

describe('drover CLI on the examples', () => {
  it(
    'submit --wait runs a Markdown work order and tickets with fan-out and phases',
    logged(async () => {
      const result = await drover(['--json', 'submit', 'examples/work-order.md', '--wait']);
      expect(result.code).toBe(0);
      const { tickets } = JSON.parse(result.stdout) as { tickets: Ticket[] };
      expect(tickets.map((t) => t.status)).toEqual(['SUCCEEDED']);
      const human = await drover([
        'submit',
        'examples/hello-ticket.json',
        'examples/phases.json',
        '--wait',
      ]);
      expect(human.code).toBe(0);
      expect(human.stdout).toContain('examples/phases.json: ticket');
      expect(human.stdout).toMatch(/finished in/);
    }),
    120_000,
  );

  it(
    'runs the pipeline: outputs through templates, a step allowed to fail, a condition',
    logged(async () => {
      const pipeline = await drover(['--json', 'submit', 'examples/pipeline.yaml', '--wait']);
      expect(pipeline.code).toBe(0);
      const [ticket] = (JSON.parse(pipeline.stdout) as { tickets: Ticket[] }).tickets;
      expect(Object.fromEntries(ticket.tasks.map((t) => [t.key, t.status]))).toEqual({
        lint: 'SUCCEEDED',
        fix: 'SUCCEEDED',
        'flaky-check': 'FAILED',
        report: 'SUCCEEDED',
      });
      expect(ticket.status).toBe('SUCCEEDED');
      const logs = await drover(['logs', task(ticket, 'fix').id]);
      expect(logs.stdout).toContain('fixing 1 problems in app.js');

      const condition = await drover(['--json', 'submit', 'examples/condition.yaml', '--wait']);
      expect(condition.code).toBe(0);
      const [skipped] = (JSON.parse(condition.stdout) as { tickets: Ticket[] }).tickets;
      expect(task(skipped, 'migrate')).toMatchObject({
        status: 'SKIPPED',
        reason: expect.stringContaining('when was false') as unknown,
      });
      expect(task(skipped, 'smoke-test').status).toBe('SUCCEEDED');
    }),
    120_000,
  );

  it(
    'waits at an approval gate until drover approve releases it',
    logged(async () => {
      const { ticket, waiting } = await submitUntil(
        'examples/approval.yaml',
        'release',
        'AWAITING_APPROVAL',
      );
      const shown = await drover(['status', ticket.id]);
      expect(shown.stdout).toContain('AWAITING_APPROVAL');
      const approved = await drover(['approve', waiting.id, '-m', 'ship it']);
      expect(approved.code).toBe(0);
      expect(approved.stdout).toContain('READY');
      const watched = await drover(['status', ticket.id, '--watch']);
      expect(watched.code).toBe(0);
      expect((await drover(['logs', waiting.id])).stdout).toContain('releasing 1.4.2');
      const again = await drover(['reject', waiting.id]);
      expect(again.code).toBe(3);
      expect(again.stderr).toContain('NOT_AWAITING_APPROVAL');
    }),
    120_000,
  );

  it(
    'waits for input until drover answer gives it, then runs again with it',
    logged(async () => {
      const { ticket, waiting } = await submitUntil(
        'examples/input-request.yaml',
        'publish',
        'AWAITING_INPUT',
      );
      const wrong = await drover(['answer', waiting.id, 'nightly']);
      expect(wrong.code).toBe(3);
      expect(wrong.stderr).toContain('NOT_A_CHOICE');
      expect((await drover(['answer', waiting.id, '--stdin'], 'beta\n')).code).toBe(0);
      expect((await drover(['status', ticket.id, '--watch'])).code).toBe(0);
      expect((await drover(['logs', waiting.id])).stdout).toContain('published to beta');
    }),
    120_000,
  );

  it(
    'runs the sweep with baselines and analysis, and shows its matrix and verdicts',
    logged(async () => {
      const result = await drover([
        '--json',
        'submit',
        'examples/sweep',
        '--agents',
        'nop,oracle,command',
        '--trials',
        '2',
        '--analysis',
        'examples/sweep/classify.sh',
        '--wait',
      ]);
      expect(result.code).toBe(0);
      const experiment = JSON.parse(result.stdout) as {
        id: string;
        status: string;
        matrix: { agent: string; passed: number; trials: number }[];
        tasks: { name: string; verdict: string; failures: Record<string, number> }[];
      };
      expect(experiment.status).toBe('SUCCEEDED');
      expect(experiment.matrix).toEqual([
        expect.objectContaining({ agent: 'command', trials: 6, passed: 4 }),
        expect.objectContaining({ agent: 'nop', trials: 6, passed: 2 }),
        expect.objectContaining({ agent: 'oracle', trials: 6, passed: 6 }),
      ]);
      expect(Object.fromEntries(experiment.tasks.map((t) => [t.name, t.verdict]))).toEqual({
        answer: 'unsolved',
        greeting: 'solved',
        'nothing-to-do': 'trivial',
      });
      expect(experiment.tasks.find((t) => t.name === 'answer')?.failures).toEqual({
        'wrong-answer': 4,
      });
      const table = await drover(['experiments', experiment.id]);
      expect(table.stdout).toMatch(/PASS RATE/);
      expect(table.stdout).toMatch(/oracle\s+-\s+6\/6\s+100%/);
      expect((await drover(['clean', experiment.id])).code).toBe(0);
      expect((await drover(['experiments', experiment.id])).code).toBe(3);
    }),
    180_000,
  );
});
