// The suite's own data. Before the runner stops: one ticket of fixed, harmless commands
// in the operator project and one in project A, each run to its end (runs, log lines,
// artifacts, a diff). Then, with the runner stopped, tickets that stay open (tasks to
// cancel), one of them in project B. Nothing submitted afterwards ever executes.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { Api } from './api';
import type { Pools } from './endpoint-rules';
import type { Principals } from './principals';
import type { Stack } from './stack';

const Created = z.object({ id: z.uuid(), tasks: z.array(z.object({ id: z.uuid() })) });
const Ticket = z.object({ status: z.string() });
const Task = z.object({ runs: z.array(z.object({ id: z.uuid() })) });
const Artifacts = z.object({ items: z.array(z.object({ name: z.string() })) });
const Logs = z.object({ lines: z.array(z.unknown()) });
const Page = z.object({ nextCursor: z.string().nullable() });

type Created = z.output<typeof Created>;
type Artifact = { run: string; name: string };

/** Project A's objects for the authorization matrix: each of a finished ticket. */
export interface Targets {
  project: { id: string; slug: string };
  ticket: string;
  /** An experiment of A's that never ends: deleting it is refused. */
  experiment: string;
  /** A ticket of A's that never ends (nothing runs it): deleting it is refused. */
  openTicket: string;
  task: string;
  /** A run with log lines and `artifact` recorded. */
  run: string;
  artifact: string;
  /** A run that stored a diff. */
  diffRun: string;
}

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

const finished = (repo: string) => ({
  title: 'hostile seed',
  tasks: [
    { key: 'hello', steps: [{ run: 'echo one; echo two; echo three' }] },
    { key: 'fails', steps: [{ run: 'echo failing; exit 3' }] },
    { key: 'after', depends_on: ['hello'], steps: [{ run: 'true' }] },
    { key: 'patch', agent: 'oracle', solution: 'echo hostile >> notes.txt', repo },
  ],
});

/** An experiment no runner ever takes (the seed stops the runner first): it never ends. */
export const SWEEP = {
  agents: ['nop'],
  n_trials: 2,
  tasks: [{ name: 'hostile', document: '---\ntitle: a swept task\n---\nNothing to do.\n' }],
};
const Experiment = z.object({ id: z.uuid() });

const waiting = {
  title: 'hostile open',
  tasks: [
    { key: 'w1', agent: 'nop' },
    { key: 'w2', agent: 'nop', depends_on: ['w1'] },
    { key: 'w3', agent: 'nop' },
  ],
};

async function untilFinal(api: Api, ticket: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { status } = await api.get(`/tickets/${ticket}`, Ticket);
    if (status === 'SUCCEEDED' || status === 'FAILED') return;
    if (Date.now() > deadline) throw new Error(`ticket ${ticket} is still ${status} after 60 s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The runs of a finished ticket and what each recorded. */
async function recorded(
  api: Api,
  ticket: Created,
): Promise<{ runs: string[]; artifacts: Artifact[] }> {
  const runs: string[] = [];
  for (const task of ticket.tasks)
    runs.push(...(await api.get(`/tasks/${task.id}`, Task)).runs.map((r) => r.id));
  const artifacts: Artifact[] = [];
  for (const run of runs) {
    const { items } = await api.get(`/runs/${run}/artifacts`, Artifacts);
    artifacts.push(...items.map((a) => ({ run, name: a.name })));
  }
  return { runs, artifacts };
}

async function targetsOf(
  api: Api,
  principals: Principals,
  ticket: Created,
  openTicket: string,
  experiment: string,
): Promise<Targets> {
  const { artifacts } = await recorded(api, ticket);
  const diffRun = artifacts.find((a) => a.name === 'diff.patch')?.run;
  let withLog: Artifact | undefined;
  for (const a of artifacts) {
    if (withLog || a.name === 'diff.patch') continue;
    if ((await api.get(`/runs/${a.run}/logs`, Logs)).lines.length) withLog = a;
  }
  if (!diffRun || !withLog)
    throw new Error(`project A's seed left no diff or no run with a log and an artifact`);
  const { id, slug } = principals.a;
  return {
    project: { id, slug },
    ticket: ticket.id,
    experiment,
    openTicket,
    task: ticket.tasks[0].id,
    run: withLog.run,
    artifact: withLog.name,
    diffRun,
  };
}

export async function seed(
  stack: Stack,
  principals: Principals,
  log: (line: string) => void,
): Promise<{ pools: Pools; targets: Targets }> {
  const ours = new Api(stack.url, principals.operator.admin.key);
  const a = ours.as(principals.a.member.key);
  const repo = gitRepo(join(stack.workDir, 'repo'));
  const [done, doneA] = await Promise.all([
    ours.post('/tickets', Created, finished(repo)),
    a.post('/tickets', Created, finished(repo)),
  ]);
  await Promise.all([untilFinal(ours, done.id), untilFinal(a, doneA.id)]);
  await stack.stopRunner();
  log('seed tickets done; runner stopped: nothing submitted from here on runs');
  const open = await ours.post('/tickets', Created, waiting);
  // Its tasks are cancelled one by one; no ticket cancel reaches them first.
  const openTasks = await ours.post('/tickets', Created, waiting);
  const openB = await ours.as(principals.b.admin.key).post('/tickets', Created, waiting);
  const openA = await a.post('/tickets', Created, waiting);
  const sweep = await ours.post('/experiments', Experiment, SWEEP);
  const sweepA = await a.post('/experiments', Experiment, SWEEP);
  // Tickets of ours to delete: cancelled (final), and read by no other rule.
  const spare = [
    await ours.post('/tickets', Created, waiting),
    await ours.post('/tickets', Created, waiting),
  ];
  for (const t of spare) await ours.post(`/tickets/${t.id}/cancel`, z.unknown(), {});
  const { runs, artifacts } = await recorded(ours, done);
  const theirs = await recorded(a, doneA);
  const { nextCursor } = await ours.get('/tickets?limit=1', Page);
  const pools: Pools = {
    tickets: [done.id, open.id],
    spareTickets: spare.map((t) => t.id),
    experiments: [sweep.id],
    tasks: [...done.tasks, ...openTasks.tasks].map((t) => t.id),
    runs,
    artifacts,
    diffRuns: [...new Set(artifacts.filter((a) => a.name === 'diff.patch').map((a) => a.run))],
    cursor: nextCursor ?? '',
    project: principals.operator.id,
    keys: principals.spare,
    foreign: {
      tickets: [doneA.id, openB.id],
      experiments: [sweepA.id],
      tasks: [...doneA.tasks, ...openB.tasks].map((t) => t.id),
      runs: theirs.runs,
      artifacts: theirs.artifacts,
      projects: [principals.a.id, principals.b.id],
      slugs: [principals.a.slug, principals.b.slug],
      keys: [principals.a.viewer.id, principals.a.member.id, principals.b.admin.id],
    },
  };
  if (!pools.artifacts.length || !pools.diffRuns.length || !pools.cursor)
    throw new Error(`the seed left too little to attack: ${JSON.stringify(pools)}`);
  if (!pools.foreign.runs.length || !pools.foreign.artifacts.length)
    throw new Error(`project A's seed left too little: ${JSON.stringify(pools.foreign)}`);
  log(
    `seed: ${runs.length} runs, ${artifacts.length} artifacts (${artifacts.map((a) => a.name).join(', ')}); project A ${theirs.runs.length} runs`,
  );
  return { pools, targets: await targetsOf(a, principals, doneA, openA.id, sweepA.id) };
}
