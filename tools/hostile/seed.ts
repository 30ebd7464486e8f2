// The suite's own data: one ticket of fixed, harmless commands that runs to its end
// (runs, log lines, artifacts, a diff), then, with the runner stopped, one that stays
// open (tasks to cancel). Nothing the generators submit afterwards ever executes.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { Pools } from './endpoint-rules';
import type { Stack } from './stack';

const Created = z.object({ id: z.uuid(), tasks: z.array(z.object({ id: z.uuid() })) });
const Ticket = z.object({ status: z.string() });
const Task = z.object({ runs: z.array(z.object({ id: z.uuid() })) });
const Artifacts = z.object({ items: z.array(z.object({ name: z.string() })) });
const Page = z.object({ nextCursor: z.string().nullable() });

async function call<S extends z.ZodType>(
  url: string,
  schema: S,
  init?: RequestInit,
): Promise<z.output<S>> {
  const res = await fetch(url, init);
  const text = await res.text();
  if (!res.ok)
    throw new Error(
      `${init?.method ?? 'GET'} ${url} answered ${res.status}: ${text.slice(0, 300)}`,
    );
  return schema.parse(JSON.parse(text));
}

const submit = (url: string, ticket: unknown) =>
  call(`${url}/tickets`, Created, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ticket),
  });

/** A git repository with one commit, for the task that leaves a diff. */
function gitRepo(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'notes.txt'), 'seed\n');
  const git = (...args: string[]) =>
    execFileSync(
      'git',
      ['-c', 'user.name=hostile', '-c', 'user.email=hostile@example.com', ...args],
      {
        cwd: dir,
        stdio: 'ignore',
      },
    );
  git('init', '-q', '-b', 'main');
  git('add', '.');
  git('commit', '-q', '-m', 'seed');
  return dir;
}

export async function seed(stack: Stack, log: (line: string) => void): Promise<Pools> {
  const url = stack.url;
  const repo = gitRepo(join(stack.workDir, 'repo'));
  const done = await submit(url, {
    title: 'hostile seed',
    tasks: [
      { key: 'hello', steps: [{ run: 'echo one; echo two; echo three' }] },
      { key: 'fails', steps: [{ run: 'echo failing; exit 3' }] },
      { key: 'after', depends_on: ['hello'], steps: [{ run: 'true' }] },
      { key: 'patch', agent: 'oracle', solution: 'echo hostile >> notes.txt', repo },
    ],
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { status } = await call(`${url}/tickets/${done.id}`, Ticket);
    if (status === 'SUCCEEDED' || status === 'FAILED') break;
    if (Date.now() > deadline) throw new Error(`the seed ticket is still ${status} after 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await stack.stopRunner();
  log('seed ticket done; runner stopped: nothing submitted from here on runs');
  const waiting = {
    title: 'hostile open',
    tasks: [
      { key: 'w1', agent: 'nop' },
      { key: 'w2', agent: 'nop', depends_on: ['w1'] },
      { key: 'w3', agent: 'nop' },
    ],
  };
  const open = await submit(url, waiting);
  // Its tasks are cancelled one by one; no ticket cancel reaches them first.
  const openTasks = await submit(url, waiting);
  const runs: string[] = [];
  for (const task of done.tasks)
    runs.push(...(await call(`${url}/tasks/${task.id}`, Task)).runs.map((r) => r.id));
  const artifacts: Pools['artifacts'] = [];
  for (const run of runs) {
    const { items } = await call(`${url}/runs/${run}/artifacts`, Artifacts);
    artifacts.push(...items.map((a) => ({ run, name: a.name })));
  }
  const { nextCursor } = await call(`${url}/tickets?limit=1`, Page);
  const pools: Pools = {
    tickets: [done.id, open.id],
    tasks: [...done.tasks, ...openTasks.tasks].map((t) => t.id),
    runs,
    artifacts,
    diffRuns: [...new Set(artifacts.filter((a) => a.name === 'diff.patch').map((a) => a.run))],
    cursor: nextCursor ?? '',
  };
  if (!pools.artifacts.length || !pools.diffRuns.length || !pools.cursor)
    throw new Error(`the seed left too little to attack: ${JSON.stringify(pools)}`);
  log(
    `seed: ${runs.length} runs, ${artifacts.length} artifacts (${artifacts.map((a) => a.name).join(', ')})`,
  );
  return pools;
}
