import type { ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { waitFor } from '@drover/testing';
import { spawnDrover } from './support/cli';
import { startInProcessStack, type InProcessStack } from './support/in-process-stack';

// What the CLI prints must reach whatever reads it in full, a slow pipe
// included, and an output it could not write must show in its exit code.

const LINES = 30_000;

let stack: InProcessStack;
let taskId: string;

beforeAll(async () => {
  stack = await startInProcessStack();
  const res = await fetch(`${stack.baseUrl}/tickets`, {
    method: 'POST',
    headers: { ...stack.auth, 'content-type': 'application/json' },
    body: JSON.stringify({
      title: 'many lines',
      tasks: [{ key: 'seq', steps: [{ run: `seq 1 ${LINES}` }] }],
    }),
  });
  const ticket = (await res.json()) as { id: string; tasks: { id: string }[] };
  taskId = ticket.tasks[0].id;
  await waitFor(
    async () => {
      const r = await fetch(`${stack.baseUrl}/tickets/${ticket.id}`, { headers: stack.auth });
      const { status } = (await r.json()) as { status: string };
      if (status === 'FAILED' || status === 'CANCELLED') throw new Error(`the ticket ${status}`);
      return status === 'SUCCEEDED';
    },
    'the ticket to succeed',
    90_000,
    250,
  );
}, 120_000);

afterAll(async () => {
  await stack?.stop();
});

/** Resolves with the exit code and what the CLI wrote to stderr once it has exited. */
function exited(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stderr })));
}

describe('drover output through a pipe', () => {
  it('writes all of a large --json logs to a slow reader before it exits 0', async () => {
    const child = spawnDrover(
      ['ignore', 'pipe', 'pipe'],
      stack.baseUrl,
      stack.apiKey,
      '--json',
      'logs',
      taskId,
    );
    const chunks: Buffer[] = [];
    const stdout = child.stdout!;
    stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    // A slow reader: once output starts, it takes no more for a while (`| (sleep 1; wc -c)`).
    stdout.once('data', () => {
      stdout.pause();
      setTimeout(() => stdout.resume(), 1000);
    });
    const { code, stderr } = await exited(child);
    const out = Buffer.concat(chunks);
    expect({ code, stderr, bytes: out.length > 65_536 }).toEqual({
      code: 0,
      stderr: '',
      bytes: true,
    });
    const lines = JSON.parse(out.toString('utf8')) as { stream: string; text: string }[];
    const printed = lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
    expect(printed).toEqual(Array.from({ length: LINES }, (_, i) => String(i + 1)));
  }, 60_000);

  it('exits 5 naming the error when its output cannot be written (a full disk)', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const child = spawnDrover(
        ['ignore', full, 'pipe'],
        stack.baseUrl,
        stack.apiKey,
        '--json',
        'logs',
        taskId,
      );
      const { code, stderr } = await exited(child);
      expect({ code, stderr }).toEqual({
        code: 5,
        stderr: expect.stringContaining('the output could not be written: ENOSPC') as string,
      });
    } finally {
      closeSync(full);
    }
  }, 60_000);

  it('ends quietly with 0 when its reader stops early (`| head`)', async () => {
    const child = spawnDrover(
      ['ignore', 'pipe', 'pipe'],
      stack.baseUrl,
      stack.apiKey,
      '--json',
      'logs',
      taskId,
    );
    const stdout = child.stdout!;
    stdout.once('data', () => stdout.destroy());
    expect(await exited(child)).toEqual({ code: 0, stderr: '' });
  }, 60_000);
});
