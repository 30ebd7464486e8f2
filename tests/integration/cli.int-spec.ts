import { randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@drover/testing';
import { ApiKeys, DEFAULT_PROJECT } from '@drover/workflow';
import { drover, droverWith, spawnDrover, type CliResult } from './support/cli';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// The `drover` CLI as a separate process (run from source) against the whole
// stack in this process: submitting files, following, approving, answering,
// logs, cancelling and cleaning up, with the exit codes a script relies on.

interface Task {
  id: string;
  key: string;
  status: string;
}
interface Ticket {
  id: string;
  title: string;
  status: string;
  tasks: Task[];
}

let stack: InProcessStack;
let dir: string;

beforeAll(async () => {
  stack = await startInProcessStack({ DROVER_SECRETS_KEY: randomBytes(32).toString('base64') });
  dir = await mkdtemp(join(tmpdir(), 'drover-cli-'));
}, 60_000);

afterAll(async () => {
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => drover(stack.baseUrl, stack.apiKey, ...args);
const text = (r: CliResult) => r.stdout.toString('utf8');
const json = <T>(r: CliResult): T => JSON.parse(text(r)) as T;
/** The output, for a failed expectation to show. */
const shown = (r: CliResult) => ({ code: r.code, stdout: text(r), stderr: r.stderr });

async function file(name: string, content: string, under = dir): Promise<string> {
  const path = join(under, name);
  await writeFile(path, content);
  return path;
}

/** A Markdown work order for the command agent running `run`. */
const workOrder = (title: string, run: string) =>
  `---\ntitle: ${title}\nagent: command\nsteps:\n  - run: ${JSON.stringify(run)}\n---\n${title}.\n`;

async function submitted(path: string): Promise<Ticket> {
  const r = await cli('submit', path, '--json');
  expect(shown(r)).toMatchObject({ code: 0 });
  return json<{ tickets: Ticket[] }>(r).tickets[0];
}

/** Polls `drover status <id> --json` until the ticket's task `key` is in `status`. */
async function taskIn(ticketId: string, key: string, status: string): Promise<Task> {
  return waitFor(
    async () => {
      const task = json<Ticket>(await cli('status', ticketId, '--json')).tasks.find(
        (t) => t.key === key,
      );
      return task?.status === status ? task : undefined;
    },
    `task ${key} ${status}`,
    30_000,
    200,
  );
}

describe('drover submit', () => {
  it('uploads a work order and, with --wait --json, exits 0 with the ticket SUCCEEDED', async () => {
    const path = await file('say-hi.md', workOrder('Say hi', 'echo hi'));
    const r = await cli('submit', path, '--wait', '--json');
    expect(shown(r)).toMatchObject({ code: 0, stderr: '' });
    const { tickets } = json<{ tickets: Ticket[] }>(r);
    expect(tickets).toEqual([
      expect.objectContaining({
        title: 'Say hi',
        status: 'SUCCEEDED',
        // The upload's file name gave the work order its task key.
        tasks: [expect.objectContaining({ key: 'say-hi', status: 'SUCCEEDED' })],
      }),
    ]);
  }, 60_000);

  it('submits every ticket file directly in a directory, sorted by name, one ticket each', async () => {
    const batch = join(dir, 'batch');
    await mkdir(join(batch, 'nested'), { recursive: true });
    await file(
      'b-second.yaml',
      'title: second\ntasks:\n  - key: b\n    steps:\n      - run: echo b\n',
      batch,
    );
    await file('a-first.md', workOrder('first', 'echo a'), batch);
    await file('notes.txt', 'not a ticket', batch);
    await file('c.md', workOrder('nested', 'echo c'), join(batch, 'nested'));

    const r = await cli('submit', batch);
    expect(shown(r)).toMatchObject({ code: 0 });
    const lines = text(r).split('\n');
    const ids = [...text(r).matchAll(/: ticket ([0-9a-f-]{36}) with 1 task/g)].map((m) => m[1]);
    expect(ids).toHaveLength(2);
    expect(lines[0]).toBe(`${join(batch, 'a-first.md')}: ticket ${ids[0]} with 1 task`);
    expect(lines[1].trim()).toBe(`${stack.baseUrl}/tickets/${ids[0]}`);
    expect(lines[2]).toBe(`${join(batch, 'b-second.yaml')}: ticket ${ids[1]} with 1 task`);
    const titles = await Promise.all(
      ids.map(async (id) => json<Ticket>(await cli('status', id, '--json')).title),
    );
    expect(titles).toEqual(['first', 'second']);
  }, 60_000);

  it('prints a bad work order compiler-style (file:line:column) and exits 3, submitting nothing', async () => {
    const bad = workOrder('Bad', 'echo bad').replace(
      'agent: command',
      'agent: command\npriority: high',
    );
    const path = await file('bad.md', bad);
    const before = await stack.env.prisma.ticket.count();
    const r = await cli('submit', path);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`^${path}:4:\\d+: priority: .+$`, 'm'));
    expect(await stack.env.prisma.ticket.count()).toBe(before);
  }, 30_000);

  it('exits 2 naming a directory without ticket files', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    await file('readme.txt', 'nothing here', empty);
    const r = await cli('submit', empty);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`drover: ${empty}: no ticket files`);
  }, 30_000);

  it('exits 1 when a ticket it waits for fails, one plain line per task status change', async () => {
    const path = await file('fails.md', workOrder('Fails', 'echo failing; exit 7'));
    const r = await cli('submit', path, '--wait');
    expect(shown(r)).toMatchObject({ code: 1 });
    expect(text(r)).toMatch(/task fails RUNNING/);
    expect(text(r)).toMatch(/task fails FAILED/);
    // Not a terminal: no cursor movement.
    expect(text(r)).not.toContain('\x1b[');
  }, 60_000);
});

describe('drover approve, reject and status --watch', () => {
  it('waits at the approval gate, approves with a comment and follows the ticket to its end', async () => {
    const pipeline = [
      'title: release',
      'tasks:',
      '  - key: build',
      '    steps:',
      '      - run: echo built',
      '  - key: publish',
      '    depends_on: [build]',
      '    requires_approval: true',
      '    steps:',
      '      - run: echo published',
    ].join('\n');
    const ticket = await submitted(await file('release.yaml', pipeline));
    const publish = await taskIn(ticket.id, 'publish', 'AWAITING_APPROVAL');
    const build = ticket.tasks.find((t) => t.key === 'build');

    const notWaiting = await cli('reject', build?.id ?? '', '-m', 'no');
    expect(notWaiting.code).toBe(3);
    expect(notWaiting.stderr).toMatch(/^drover: NOT_AWAITING_APPROVAL: .+/);

    const approved = await cli('approve', publish.id, '-m', 'ok');
    expect(shown(approved)).toMatchObject({ code: 0 });
    expect(text(approved)).toContain(`task publish (${publish.id}) is now READY`);

    const watched = await cli('status', ticket.id, '--watch');
    expect(shown(watched)).toMatchObject({ code: 0 });
    expect(text(watched)).toMatch(/release\s+SUCCEEDED/);

    const task = await cli('status', publish.id);
    expect(task.code).toBe(0);
    expect(text(task)).toMatch(/approval\s+approved by in-process at \S+: "ok"/);
  }, 90_000);
});

describe('drover status --watch on a gate already waiting, and who may act on it', () => {
  const keyOf = async (role: 'viewer' | 'member') =>
    (await new ApiKeys(stack.env.prisma).issue({ projectId: DEFAULT_PROJECT.id, name: role, role }))
      .key;

  it('prints the approve command at once; a viewer is refused (403), a member approves', async () => {
    const gate = ['title: gated', 'tasks:', '  - key: ship', '    requires_approval: true'];
    const ticket = await submitted(
      await file('gated.yaml', [...gate, '    steps:', '      - run: echo shipped'].join('\n')),
    );
    const ship = await taskIn(ticket.id, 'ship', 'AWAITING_APPROVAL');
    const watch = spawnDrover(
      ['ignore', 'pipe', 'pipe'],
      stack.baseUrl,
      stack.apiKey,
      'status',
      ticket.id,
      '--watch',
    );
    let out = '';
    watch.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => watch.on('close', resolve));
    try {
      // Before anything changes: the gate was waiting when the watch began.
      await waitFor(() => out.includes(`drover approve ${ship.id}`), 'the approve command', 20_000);
      expect(out).toContain(`drover reject ${ship.id}`);

      const viewer = await keyOf('viewer');
      for (const args of [
        ['approve', ship.id],
        ['reject', ship.id],
        ['answer', ship.id, 'x'],
      ]) {
        const refused = await drover(stack.baseUrl, viewer, ...args);
        expect({ args, ...shown(refused) }).toMatchObject({
          args,
          code: 3,
          stderr: expect.stringMatching(/^drover: FORBIDDEN: /) as string,
        });
      }
      const approved = await drover(stack.baseUrl, await keyOf('member'), 'approve', ship.id);
      expect(shown(approved)).toMatchObject({ code: 0 });
      expect(await exited).toBe(0);
      // Said once, though a read of the ticket and the stream may both show it.
      expect(out.split(`drover approve ${ship.id}`)).toHaveLength(2);
    } finally {
      watch.kill();
    }
  }, 90_000);
});

describe('drover answer and logs', () => {
  const asks = `if [ -z "$TOKEN" ]; then echo '{"name":"TOKEN","prompt":"token?","secret":true}' > "$DROVER_REQUEST"; exit 3; fi; echo "got $TOKEN"`;

  it('answers a secret from stdin; the ticket then succeeds and the log masks the value', async () => {
    const ticket = await submitted(await file('needs-token.md', workOrder('Needs a token', asks)));
    const waiting = await taskIn(ticket.id, 'needs-token', 'AWAITING_INPUT');

    const shownTask = await cli('status', waiting.id);
    expect(text(shownTask)).toContain(
      `TOKEN (secret): "token?": drover answer ${waiting.id} --stdin`,
    );

    const missing = await cli('answer', waiting.id);
    expect(missing.code).toBe(2);
    const answered = await droverWith(
      { stdin: 's3cr3t-value\n' },
      stack.baseUrl,
      stack.apiKey,
      'answer',
      waiting.id,
      '--stdin',
    );
    expect(shown(answered)).toMatchObject({ code: 0 });

    expect(shown(await cli('status', ticket.id, '--watch'))).toMatchObject({ code: 0 });
    const logs = await cli('logs', waiting.id);
    expect(logs.code).toBe(0);
    expect(text(logs)).toContain('got ***');
    expect(text(logs)).not.toContain('s3cr3t-value');
  }, 90_000);

  it('follows a running task with -f until it ends, printing each line once and in order', async () => {
    const run = 'for i in 1 2 3 4 5 6; do echo "line $i"; sleep 0.4; done';
    const ticket = await submitted(await file('counts.md', workOrder('Counts', run)));
    const task = await taskIn(ticket.id, 'counts', 'RUNNING');

    const followed = await cli('logs', task.id, '-f');
    expect(shown(followed)).toMatchObject({ code: 0 });
    // It returned because the task ended.
    expect(json<Ticket>(await cli('status', ticket.id, '--json')).tasks[0].status).toBe(
      'SUCCEEDED',
    );
    const lines = text(followed)
      .split('\n')
      .filter((l) => l.startsWith('line '));
    expect(lines).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5', 'line 6']);
  }, 60_000);
});

describe('drover cancel and clean', () => {
  it('cancels a task by its id and a ticket by its id', async () => {
    const pipeline = [
      'title: long',
      'tasks:',
      '  - key: one',
      '    steps:',
      '      - run: sleep 30',
      '  - key: two',
      '    steps:',
      '      - run: sleep 30',
    ].join('\n');
    const ticket = await submitted(await file('long.yaml', pipeline));
    const one = await taskIn(ticket.id, 'one', 'RUNNING');

    const task = await cli('cancel', one.id);
    expect(shown(task)).toMatchObject({ code: 0 });
    expect(text(task)).toContain('cancelled one (was RUNNING)');
    const whole = await cli('cancel', ticket.id);
    expect(shown(whole)).toMatchObject({ code: 0 });
    expect(text(whole)).toMatch(/cancelled two \(was \w+\)/);
    await waitFor(
      async () => json<Ticket>(await cli('status', ticket.id, '--json')).status === 'CANCELLED',
      'ticket CANCELLED',
    );
    const again = await cli('cancel', ticket.id);
    expect(again.code).toBe(3);
  }, 60_000);

  it('deletes a finished ticket, and refuses one that is not final with the API message', async () => {
    const done = await cli(
      'submit',
      await file('to-clean.md', workOrder('To clean', 'echo x')),
      '--wait',
      '--json',
    );
    const [ticket] = json<{ tickets: Ticket[] }>(done).tickets;

    const cleaned = await cli('clean', ticket.id);
    expect(shown(cleaned)).toMatchObject({ code: 0 });
    expect(text(cleaned)).toMatch(new RegExp(`^deleted ticket ${ticket.id}: 1 tasks, 1 runs\\b`));
    const gone = await cli('status', ticket.id);
    expect(gone.code).toBe(3);
    expect(gone.stderr).toContain(`drover: NOT_FOUND: no ticket or task with id ${ticket.id}`);

    const running = await submitted(
      await file('still-running.md', workOrder('Still running', 'sleep 30')),
    );
    const refused = await cli('clean', running.id);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/^drover: NOT_FINAL: .+/);
    await cli('cancel', running.id);
  }, 60_000);
});

describe('drover --help and errors', () => {
  it('lists the exit codes', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    const help = text(r).slice(text(r).indexOf('EXIT CODES'));
    for (const code of ['0', '1', '2', '3', '4', '5'])
      expect(help).toMatch(new RegExp(`^ {2}${code} {2}\\S`, 'm'));
  }, 30_000);

  it('shows an unknown id as the API states it, exit 3', async () => {
    const id = randomUUID();
    const r = await cli('logs', id);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe(`drover: NOT_FOUND: no run or task with id ${id}\n`);
  }, 30_000);
});
