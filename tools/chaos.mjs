#!/usr/bin/env node
// `npm run chaos [-- --short] [--json] [--keep] [--tasks N] [--no-faults]`: the chaos test.
//
// Starts a PRIVATE Postgres, Redis and NATS (never the shared daemons on 5432, 6379
// and 4222: other tests use them while this runs), runs the five services against
// them with three runners (1 s heartbeats), first runs a load phase with no fault
// (quick independent tasks at 20 tasks/s, which must all complete exactly once),
// then submits a stream of DAG tickets whose tasks append to a
// side-effect log outside Drover, and injects faults while the tasks run: kill -9
// of runners, of the scheduler and the orchestrator, a NATS restart, a Redis restart
// that loses its data, a Postgres stop. Then it waits for every task to settle and
// checks, from the private database and the effect log, that nothing was lost or
// stuck, that no task started before its dependencies ended, that no side
// effect happened more often than Drover recorded runs, that no task completed
// more than once unless a runner killed after the work explains it, and that the
// gateway answered no 5xx outside an outage the harness caused (see
// completedMoreThanOnce and serverErrorsBy for the exact rules). Exit codes: 0 every check
// passed, 1 a check failed or the tasks did not settle, 2 the harness itself failed.
import { execFileSync, spawn } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import {
  APPS,
  bootstrapKey,
  buildApps,
  freePort,
  migrate,
  startApp,
  stopApps,
} from './lib/stack.mjs';
import { answers } from './lib/infra.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const USAGE = `usage: node tools/chaos.mjs [--short] [--json] [--keep] [--tasks N] [--load N] [--no-faults]
  --short      the CI form: 150 tasks, each fault once, shorter pauses (under 2 minutes on
               2 cores when the tasks settle; up to 4 more minutes waiting when they do not)
  --json       also print the figures as one JSON object on stdout (progress goes to stderr)
  --keep       keep the run directory (logs, effect log, database and NATS store); without
               it a failed run keeps only its logs and effect log, a passing run nothing
  --tasks N    submit N tasks instead of 500 (150 with --short)
  --load N     first, with no fault, N quick independent tasks at 20 tasks/s (default 300,
               200 with --short; 0: none): tasks completed more than once must be 0
  --no-faults  same workload and checks, no faults: a baseline, and a check of the checks`;

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      short: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      tasks: { type: 'string' },
      load: { type: 'string' },
      'no-faults': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (error) {
  console.error(`chaos: ${error.message}\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}

const PROFILE = opts.short
  ? {
      name: 'short',
      tasks: 150,
      loadTasks: 200,
      faults: [
        'runner-kill',
        'scheduler+orchestrator-kill',
        'nats-restart',
        'redis-flush',
        'postgres-stop',
      ],
      gapMs: 5_000,
      // Submissions are spread over about as long as the faults take, so that every
      // fault finds work running.
      spreadMs: 35_000,
      settleMs: 4 * 60_000,
    }
  : {
      name: 'full',
      tasks: 500,
      loadTasks: 300,
      faults: [
        'runner-kill',
        'scheduler+orchestrator-kill',
        'runner-kill',
        'nats-restart',
        'runner-kill',
        'redis-flush',
        'postgres-stop',
      ],
      gapMs: 8_000,
      spreadMs: 80_000,
      settleMs: 10 * 60_000,
    };
const TASKS = opts.tasks === undefined ? PROFILE.tasks : Number(opts.tasks);
if (!Number.isInteger(TASKS) || TASKS < 1) {
  console.error(`chaos: --tasks needs a positive whole number (got ${opts.tasks})`);
  process.exit(2);
}
const LOAD_TASKS = opts.load === undefined ? PROFILE.loadTasks : Number(opts.load);
if (!Number.isInteger(LOAD_TASKS) || LOAD_TASKS < 0) {
  console.error(`chaos: --load needs a whole number (got ${opts.load})`);
  process.exit(2);
}
/** The load phase's rate: the one at which deadlocks once made live runners look dead. */
const LOAD_TASKS_PER_S = 20;
const FAULTS = opts['no-faults'] ? [] : PROFILE.faults;
/**
 * Faults that take down what a gateway request needs (Postgres, NATS, the
 * orchestrator that answers commands): a 502/503/504 while one is in effect, or
 * within this long after the part is back (services reconnect, a process boots),
 * is the fault's, not a defect.
 */
const OUTAGE_FAULTS = new Set(['postgres-stop', 'nats-restart', 'scheduler+orchestrator-kill']);
const OUTAGE_GRACE_MS = 15_000;

const TERMINAL = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'BLOCKED', 'SKIPPED']);
const RUNNER_SLOTS = 4;
const INITIAL_RUNNERS = 3;

// Under --json stdout carries only the JSON object; everything else goes to stderr.
const out = opts.json ? process.stderr : process.stdout;
const started = Date.now();
const clock = (ms = Date.now()) => new Date(ms).toISOString().slice(11, 23);
const rel = (ms) => `+${((ms - started) / 1000).toFixed(1)}s`;
const log = (msg) => out.write(`chaos ${rel(Date.now())} ${clock()} ${msg}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const exited = (child) =>
  child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once('exit', r));
const errorText = (error) => error?.cause?.code ?? error?.message ?? String(error);
/** A failure the message explains (a missing binary, a service that would not start): no stack. */
class Fatal extends Error {}

// ---------------------------------------------------------------------------------
// Binaries and the private infrastructure

function which(bin) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && existsSync(join(dir, bin))) return join(dir, bin);
  }
  return undefined;
}

function pgBinDir() {
  // pg_config may come from libpq-dev and point at /usr/bin, where no initdb lives.
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // no pg_config: look in the Debian layout
  }
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).sort((a, b) => Number(b) - Number(a));
    for (const version of versions) {
      if (existsSync(join(base, version, 'bin/initdb'))) return join(base, version, 'bin');
    }
  }
  return undefined;
}

function findBinaries() {
  const pgBin = pgBinDir();
  const redis = which('redis-server');
  const nats = existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : which('nats-server');
  const missing = [];
  if (!pgBin)
    missing.push(
      'initdb/pg_ctl (PostgreSQL server: pg_config --bindir, /usr/lib/postgresql/*/bin)',
    );
  if (!redis) missing.push('redis-server');
  if (!nats) missing.push('nats-server (/usr/sbin/nats-server or on PATH)');
  const asRoot = process.getuid?.() === 0;
  if (asRoot && !which('runuser'))
    missing.push('runuser (to run Postgres as "postgres": it refuses root)');
  if (missing.length) throw new Fatal(`missing: ${missing.join('; ')}`);
  return { pgBin, redis, nats, asRoot };
}

/** Postgres refuses to run as root; as root every Postgres binary runs as `postgres`. */
class PrivatePostgres {
  constructor({ pgBin, asRoot }, dir, logFile, port) {
    Object.assign(this, { pgBin, asRoot, dir, logFile, port });
    this.data = join(dir, 'data');
    this.running = false;
  }

  get url() {
    return `postgresql://postgres@127.0.0.1:${this.port}/drover`;
  }

  run(bin, args) {
    const path = join(this.pgBin, bin);
    const [cmd, argv] = this.asRoot
      ? ['runuser', ['-u', 'postgres', '--', path, ...args]]
      : [path, args];
    try {
      return execFileSync(cmd, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    } catch (error) {
      throw new Fatal(`${bin} ${args.join(' ')} failed: ${(error.stderr || error.message).trim()}`);
    }
  }

  init() {
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(this.logFile, '');
    if (this.asRoot) {
      let uid, gid;
      try {
        uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
        gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
      } catch {
        throw new Fatal('running as root needs a "postgres" user to run the private Postgres as');
      }
      chownSync(this.dir, uid, gid);
      chownSync(this.logFile, uid, gid);
    }
    this.run('initdb', [
      '-D',
      this.data,
      '-U',
      'postgres',
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--no-sync',
    ]);
    // A throwaway cluster: durability is not under test (the OS does not crash), speed is.
    appendFileSync(
      join(this.data, 'postgresql.conf'),
      [
        '',
        '# chaos test',
        `port = ${this.port}`,
        "listen_addresses = '127.0.0.1'",
        `unix_socket_directories = '${this.dir}'`,
        'max_connections = 200',
        'fsync = off',
        'synchronous_commit = off',
        'full_page_writes = off',
        '',
      ].join('\n'),
    );
  }

  start() {
    this.run('pg_ctl', ['-D', this.data, '-l', this.logFile, '-w', '-t', '60', 'start']);
    this.running = true;
  }

  stop(mode) {
    this.run('pg_ctl', ['-D', this.data, '-m', mode, '-w', '-t', '60', 'stop']);
    this.running = false;
  }
}

/** A daemon run as our child (Redis, NATS), output appended to its log file. */
class Daemon {
  constructor(name, cmd, args, logFile, ready) {
    Object.assign(this, { name, cmd, args, logFile, ready });
    this.child = undefined;
  }

  async start() {
    appendFileSync(
      this.logFile,
      `--- chaos ${clock()}: starting ${this.cmd} ${this.args.join(' ')}\n`,
    );
    const fd = openSync(this.logFile, 'a');
    this.child = spawn(this.cmd, this.args, { stdio: ['ignore', fd, fd] });
    closeSync(fd);
    const child = this.child;
    const failed = new Promise((_, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) =>
        reject(new Fatal(`${this.name} exited (${code ?? signal}) on start; see ${this.logFile}`)),
      );
    });
    failed.catch(() => undefined);
    const deadline = Date.now() + 30_000;
    while (!(await Promise.race([this.ready(), failed]))) {
      if (Date.now() > deadline) throw new Fatal(`${this.name} did not come up within 30 s`);
      await sleep(100);
    }
  }

  async kill(signal = 'SIGKILL') {
    if (!this.child) return;
    this.child.kill(signal);
    await exited(this.child);
  }

  async stop() {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    const force = setTimeout(() => this.child.kill('SIGKILL'), 3_000);
    await this.kill('SIGTERM');
    clearTimeout(force);
  }
}

// ---------------------------------------------------------------------------------
// The workload: tickets of ten tasks, a root, two layers with chains and fan-in, a join.
// Every task's key list refers only to earlier tasks, so any prefix is a valid ticket.

const TEMPLATE = [
  ['root', []],
  ['a1', ['root']],
  ['a2', ['root']],
  ['a3', ['root']],
  ['b1', ['a1']],
  ['b2', ['a2']],
  ['b3', ['a1', 'a2', 'a3']],
  ['c1', ['b1']],
  ['c2', ['b2', 'b3']],
  ['join', ['c1', 'c2', 'a3']],
];

const shq = (s) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * One effect line: `<kind> <tag> <key> <task id> <run id> <attempt> <epoch ms>`. The
 * ticket's tag and the task key are baked into the script, so a line can be tied to
 * its task even while the runner does not set DROVER_TASK_ID; appended with `>>`
 * (O_APPEND) in one short write, so concurrent lines never interleave.
 */
function effectScript(effects, tag, key, [minS, maxS] = [0.3, 2.5]) {
  const sleepS = (minS + Math.random() * (maxS - minS)).toFixed(2);
  const line = (kind) =>
    `printf '${kind} %s %s %s %s %s %s\\n' ${tag} ${key} "$DROVER_TASK_ID" "$DROVER_RUN_ID" ` +
    `"$DROVER_ATTEMPT" "$(date +%s%3N)" >> ${shq(effects)}`;
  return ['set -e', line('start'), `sleep ${sleepS}`, line('end')].join('\n');
}

function ticketBody(effects, tag, size) {
  return {
    title: `chaos ${tag}`,
    tasks: TEMPLATE.slice(0, size).map(([key, deps]) => ({
      key,
      depends_on: deps,
      steps: [{ run: effectScript(effects, tag, key) }],
      retry: { max_attempts: 20 },
      // Far beyond a run's 2.5 s, so only a run that hangs (its runner gone) hits it.
      timeout_seconds: 60,
    })),
  };
}

/** The load phase's tickets: ten independent quick tasks each. */
function loadTicketBody(effects, tag, size) {
  return {
    title: `chaos ${tag}`,
    tasks: Array.from({ length: size }, (_, i) => ({
      key: `q${i + 1}`,
      steps: [{ run: effectScript(effects, tag, `q${i + 1}`, [0.05, 0.25]) }],
      retry: { max_attempts: 20 },
      timeout_seconds: 60,
    })),
  };
}

// ---------------------------------------------------------------------------------
// The analysis: pure, from the database rows, the effect log and what the harness did.

const ms = (d) => (d === null || d === undefined ? null : new Date(d).getTime());
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return null;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};
const countBy = (xs, f) => {
  const m = {};
  for (const x of xs) m[f(x)] = (m[f(x)] ?? 0) + 1;
  return m;
};
const EXAMPLES = 5;

function analyze({ tickets, tasks, runs, edges, effectsText, acked, faults, serverErrors }) {
  const taskById = new Map(tasks.map((t) => [t.id, t]));
  const runById = new Map(runs.map((r) => [r.id, r]));
  const tagOfTicket = new Map(tickets.map((t) => [t.id, t.title.replace(/^chaos /, '')]));
  const taskByTagKey = new Map(tasks.map((t) => [`${tagOfTicket.get(t.ticket_id)} ${t.key}`, t]));
  const runsOfTask = new Map();
  for (const r of [...runs].sort((a, b) => a.attempt - b.attempt)) {
    if (!runsOfTask.has(r.task_id)) runsOfTask.set(r.task_id, []);
    runsOfTask.get(r.task_id).push(r);
  }
  const lastSucceeded = (taskId) =>
    (runsOfTask.get(taskId) ?? []).filter((r) => r.status === 'SUCCEEDED').at(-1);

  // Tasks: what the API acknowledged against what the database holds.
  const ackedIds = acked.flatMap((a) => a.taskIds);
  const ackedSet = new Set(ackedIds);
  const ackedTickets = new Set(acked.map((a) => a.ticketId));
  const lostMissing = ackedIds.filter((id) => !taskById.has(id));
  const lostNotTerminal = ackedIds.filter(
    (id) => taskById.has(id) && !TERMINAL.has(taskById.get(id).status),
  );
  const stuck = tasks.filter((t) => !TERMINAL.has(t.status));
  const ackedByStatus = countBy(
    ackedIds.filter((id) => taskById.has(id)),
    (id) => taskById.get(id).status,
  );
  const unackedTickets = tickets.filter((t) => !ackedTickets.has(t.id));
  const unackedTasks = tasks.filter((t) => !ackedSet.has(t.id));

  // Runs, and why each re-execution happened (how the run before it ended).
  const outcome = (r) => (r.error_class ? `${r.status}/${r.error_class}` : r.status);
  const reExecutionCauses = [];
  for (const list of runsOfTask.values()) {
    for (let i = 1; i < list.length; i++) reExecutionCauses.push(outcome(list[i - 1]));
  }

  // The effect log.
  const fx = {
    lines: 0,
    starts: 0,
    ends: 0,
    malformed: [],
    emptyIds: 0,
    noTask: [],
    taskMismatch: [],
    unknownRun: [],
    duplicateStarts: [],
    excessStarts: [],
    attemptMismatch: [],
  };
  const effectsOf = new Map(); // task id -> { starts: [], ends: [] }
  for (const raw of effectsText.split('\n')) {
    if (!raw) continue;
    fx.lines++;
    const f = raw.split(' ');
    if (f.length !== 7 || !['start', 'end'].includes(f[0]) || !/^\d+$/.test(f[6])) {
      fx.malformed.push(raw.slice(0, 200));
      continue;
    }
    const [kind, tag, key, taskId, runId, attempt, at] = f;
    const line = { kind, tag, key, taskId, runId, attempt, ms: Number(at), raw };
    fx[kind === 'start' ? 'starts' : 'ends']++;
    if (!taskId || !runId || !attempt) fx.emptyIds++;
    const byTag = taskByTagKey.get(`${tag} ${key}`);
    let task = byTag;
    if (taskId) {
      task = taskById.get(taskId);
      if (task && byTag && task.id !== byTag.id) fx.taskMismatch.push(raw);
    }
    if (!task) {
      fx.noTask.push(raw);
      continue;
    }
    if (!effectsOf.has(task.id)) effectsOf.set(task.id, { starts: [], ends: [] });
    effectsOf.get(task.id)[kind === 'start' ? 'starts' : 'ends'].push(line);
    const run = runId ? runById.get(runId) : undefined;
    if (runId && run?.task_id !== task.id) {
      if (kind === 'start') fx.unknownRun.push(raw);
    } else if (run && attempt && Number(attempt) !== run.attempt) {
      fx.attemptMismatch.push(raw);
    }
  }
  for (const [taskId, { starts }] of effectsOf) {
    const perRun = countBy(
      starts.filter((s) => s.runId),
      (s) => s.runId,
    );
    for (const [runId, n] of Object.entries(perRun)) {
      if (n > 1) fx.duplicateStarts.push({ taskId, runId, starts: n });
    }
    const knownRuns = Object.keys(perRun).filter((id) => runById.get(id)?.task_id === taskId);
    const startedRuns = knownRuns.length + starts.filter((s) => !s.runId).length;
    const rows = (runsOfTask.get(taskId) ?? []).length;
    if (startedRuns > rows) fx.excessStarts.push({ taskId, startedRuns, runRows: rows });
  }
  // Runs whose command ran to its end line yet are recorded as not succeeded: their
  // work was done and thrown away (and done again by the next run). Recorded, so not
  // "unexplained", but the figure to drive down.
  const endedRuns = new Set();
  for (const { ends } of effectsOf.values())
    for (const e of ends) if (e.runId) endedRuns.add(e.runId);
  const completedNotSucceeded = runs.filter(
    (r) => ['FAILED', 'TIMED_OUT', 'CANCELLED'].includes(r.status) && endedRuns.has(r.id),
  );
  const completions = completedMoreThanOnce({ runsOfTask, endedRuns, faults, acked });
  const answers = serverErrorsBy(serverErrors, faults);
  const unexplained =
    fx.noTask.length +
    fx.taskMismatch.length +
    fx.unknownRun.length +
    fx.duplicateStarts.reduce((n, d) => n + d.starts - 1, 0) +
    fx.excessStarts.reduce((n, d) => n + d.startedRuns - d.runRows, 0);

  // When the successful run of a task ended, by the effect log (null: no end line).
  const successEnd = (taskId) => {
    const ok = lastSucceeded(taskId);
    if (!ok) return null;
    const ends = effectsOf.get(taskId)?.ends ?? [];
    const own = ends.filter((e) => e.runId === ok.id);
    if (own.length) return Math.min(...own.map((e) => e.ms));
    // Without run ids in the log (runner not setting them yet), the earliest end line
    // of the task stands in: lenient, it can miss a violation but never invents one.
    const anonymous = ends.filter((e) => !e.runId);
    return anonymous.length ? Math.min(...anonymous.map((e) => e.ms)) : null;
  };

  const phantom = tasks
    .filter((t) => t.status === 'SUCCEEDED' && successEnd(t.id) === null)
    .map((t) => ({ taskId: t.id, key: t.key, run: lastSucceeded(t.id)?.id ?? null }));

  const orderViolations = [];
  for (const { task_id: b, depends_on_id: a } of edges) {
    const starts = effectsOf.get(b)?.starts ?? [];
    if (!starts.length) continue;
    const aEnd = successEnd(a);
    for (const s of starts) {
      if (aEnd === null || s.ms < aEnd) {
        orderViolations.push({
          task: `${taskById.get(b)?.key} ${b}`,
          dependsOn: `${taskById.get(a)?.key} ${a}`,
          started: s.ms,
          dependencyEnded: aEnd,
          why:
            aEnd === null
              ? lastSucceeded(a)
                ? 'the dependency succeeded without an end line'
                : 'the dependency has no succeeded run'
              : `started ${aEnd - s.ms} ms before the dependency's successful run ended`,
        });
      }
    }
  }

  // Recovery per fault.
  const succeededTasks = tasks.filter((t) => t.status === 'SUCCEEDED' && t.finished_at);
  const faultResults = faults.map((f) => {
    const res = { ...f, recoveryMs: null, detail: '' };
    if (f.kind === 'runner-kill') {
      const victims = runs.filter(
        (r) =>
          r.runner_id === f.target &&
          r.started_at !== null &&
          ms(r.started_at) <= f.at &&
          (r.finished_at === null || ms(r.finished_at) > f.at) &&
          r.status !== 'SUCCEEDED',
      );
      const waits = [];
      let missing = 0;
      for (const v of victims) {
        const next = (runsOfTask.get(v.task_id) ?? [])
          .filter((r) => r.attempt > v.attempt && r.started_at && r.runner_id !== f.target)
          .map((r) => ms(r.started_at));
        if (next.length) waits.push(Math.min(...next) - f.at);
        else missing++;
      }
      res.victims = victims.length;
      res.victimWaitsMs = waits;
      res.unrecovered = missing;
      if (!victims.length) res.detail = 'no run was running on it';
      else if (missing) {
        res.detail = `${missing} of ${victims.length} running runs never started elsewhere`;
      } else {
        res.recoveryMs = Math.max(...waits);
        res.detail = `${victims.length} running runs, all restarted elsewhere`;
      }
    } else {
      const firstOk = succeededTasks
        .map((t) => ms(t.finished_at))
        .filter((t) => t > f.endAt)
        .sort((x, y) => x - y)[0];
      const firstDispatch = runs
        .map((r) => ms(r.dispatched_at))
        .filter((t) => t > f.endAt)
        .sort((x, y) => x - y)[0];
      res.recoveryMs = firstOk === undefined ? null : firstOk - f.endAt;
      res.firstDispatchMs = firstDispatch === undefined ? null : firstDispatch - f.endAt;
      res.detail =
        firstOk === undefined
          ? 'no task succeeded after it'
          : `first success recorded; first dispatch after ${fmtMs(res.firstDispatchMs)}`;
    }
    return res;
  });
  const killRecoveries = faultResults
    .filter((f) => f.kind === 'runner-kill' && f.recoveryMs !== null)
    .map((f) => f.recoveryMs);

  return {
    tasks: {
      inDb: tasks.length,
      acknowledgedByStatus: ackedByStatus,
      succeeded: ackedByStatus.SUCCEEDED ?? 0,
      lostMissing: lostMissing.length,
      lostNotTerminal: lostNotTerminal.length,
      lost: lostMissing.length + lostNotTerminal.length,
      stuck: stuck.length,
      stuckByStatus: countBy(stuck, (t) => t.status),
      stuckExamples: stuck.slice(0, EXAMPLES).map((t) => `${t.key} ${t.id} ${t.status}`),
      lostExamples: [...lostMissing, ...lostNotTerminal].slice(0, EXAMPLES),
      unacknowledgedTickets: unackedTickets.length,
      unacknowledgedTasks: unackedTasks.length,
      unacknowledgedByStatus: countBy(unackedTasks, (t) => t.status),
    },
    runs: {
      total: runs.length,
      reExecutions: reExecutionCauses.length,
      byOutcome: countBy(runs, outcome),
      reExecutionsAfter: countBy(reExecutionCauses, (c) => c),
    },
    effects: {
      lines: fx.lines,
      starts: fx.starts,
      ends: fx.ends,
      malformed: fx.malformed.length,
      withEmptyIds: fx.emptyIds,
      withoutTask: fx.noTask.length,
      taskIdMismatch: fx.taskMismatch.length,
      unknownRun: fx.unknownRun.length,
      duplicateStarts: fx.duplicateStarts.length,
      excessStarts: fx.excessStarts.length,
      attemptMismatch: fx.attemptMismatch.length,
      completedButNotSucceeded: completedNotSucceeded.length,
      completedButNotSucceededByOutcome: countBy(completedNotSucceeded, outcome),
      unexplained,
      examples: [
        ...fx.malformed.map((l) => `malformed: ${l}`),
        ...fx.noTask.map((l) => `no such task: ${l}`),
        ...fx.taskMismatch.map((l) => `task id does not match tag/key: ${l}`),
        ...fx.unknownRun.map((l) => `not a run of this task: ${l}`),
        ...fx.duplicateStarts.map((d) => `run ${d.runId} started ${d.starts} times`),
        ...fx.excessStarts.map(
          (d) => `task ${d.taskId}: ${d.startedRuns} runs started, ${d.runRows} run rows`,
        ),
        ...fx.attemptMismatch.map((l) => `DROVER_ATTEMPT is not the run's attempt: ${l}`),
      ].slice(0, EXAMPLES * 2),
    },
    order: {
      edges: edges.length,
      violations: orderViolations.length,
      examples: orderViolations.slice(0, EXAMPLES),
    },
    phantomSuccesses: phantom.length,
    phantomExamples: phantom.slice(0, EXAMPLES),
    completedMoreThanOnce: completions,
    serverErrors: answers,
    faults: faultResults,
    runnerKillRecoveryMs: {
      kills: faultResults.filter((f) => f.kind === 'runner-kill').length,
      measured: killRecoveries.length,
      min: killRecoveries.length ? Math.min(...killRecoveries) : null,
      median: median(killRecoveries),
      max: killRecoveries.length ? Math.max(...killRecoveries) : null,
    },
  };
}

/**
 * Tasks completed more than once. A run COMPLETED when it reached the end of its
 * work: it SUCCEEDED, or its runner's finish report was applied (the run has an
 * exit code), or its command wrote its end line to the effect log (the work was
 * done, whatever Drover recorded). A task with more than one completed run did
 * its work more than once. That is the fault's doing, not a defect, only when
 * every completed run but the last ran on a runner killed with SIGKILL, was
 * not recorded SUCCEEDED and was still open when the runner was killed: the
 * runner died after the work and before its report got out (or its orphaned
 * command finished after it died), so nobody could report it. Every other case is a defect (a live runner presumed dead, a
 * report lost or late), and so is any such task of the load phase.
 */
function completedMoreThanOnce({ runsOfTask, endedRuns, faults, acked }) {
  const killedAt = new Map(
    faults.filter((f) => f.kind === 'runner-kill').map((f) => [f.target, f.at]),
  );
  // Ended by the control plane after its runner was killed, never recorded a success.
  const cutByKill = (r) =>
    r.status !== 'SUCCEEDED' &&
    killedAt.has(r.runner_id) &&
    (r.finished_at === null || ms(r.finished_at) >= killedAt.get(r.runner_id));
  const loadTasks = new Set(acked.filter((a) => a.phase === 'load').flatMap((a) => a.taskIds));
  const completed = (r) => r.status === 'SUCCEEDED' || r.exit_code !== null || endedRuns.has(r.id);
  const tasks = [];
  for (const [taskId, list] of runsOfTask) {
    const done = list.filter(completed);
    if (done.length < 2) continue;
    const excused = !loadTasks.has(taskId) && done.slice(0, -1).every(cutByKill);
    tasks.push({
      taskId,
      load: loadTasks.has(taskId),
      excused,
      runs: done.map(
        (r) =>
          `${r.attempt}:${r.status}${r.exit_code === null ? '' : `/exit ${r.exit_code}`}@${r.runner_id ?? '-'}`,
      ),
    });
  }
  const unexcused = tasks.filter((t) => !t.excused);
  return {
    total: tasks.length,
    excusedByRunnerKill: tasks.length - unexcused.length,
    unexcused: unexcused.length,
    inLoadPhase: tasks.filter((t) => t.load).length,
    examples: unexcused.slice(0, EXAMPLES).map((t) => `${t.taskId}: ${t.runs.join(', ')}`),
  };
}

/**
 * 5xx answers of the gateway. A 502/503/504 while Postgres, NATS or the
 * orchestrator was down for a fault (or OUTAGE_GRACE_MS after it was back) is
 * the fault's; any other 5xx (a 500, or any 5xx with everything up) is a defect.
 */
function serverErrorsBy(serverErrors, faults) {
  const outage = (e) =>
    [502, 503, 504].includes(e.status) &&
    faults.some(
      (f) =>
        OUTAGE_FAULTS.has(f.kind) &&
        e.at >= f.at &&
        e.at <= (f.endAt ?? Number.POSITIVE_INFINITY) + OUTAGE_GRACE_MS,
    );
  const unexcused = serverErrors.filter((e) => !outage(e));
  return {
    total: serverErrors.length,
    duringOutages: serverErrors.length - unexcused.length,
    unexcused: unexcused.length,
    byStatus: countBy(serverErrors, (e) => String(e.status)),
    examples: unexcused.slice(0, EXAMPLES).map((e) => `${e.status} ${e.what} at ${rel(e.at)}`),
  };
}

function fmtMs(v) {
  return v === null || v === undefined ? '-' : `${(v / 1000).toFixed(1)} s`;
}

// ---------------------------------------------------------------------------------
// The run

let bins;
try {
  bins = findBinaries();
} catch (error) {
  console.error(`chaos: ${error.message}`);
  process.exit(2);
}
const runDir = mkdtempSync(join(tmpdir(), 'drover-chaos-'));
// Postgres runs as another user (when we are root) and must reach its directory.
chmodSync(runDir, 0o755);
const logDir = join(runDir, 'logs');
const effectsFile = join(runDir, 'effects.log');
mkdirSync(logDir);
writeFileSync(effectsFile, '');

const services = new Map(); // name -> { name, app, env, proc, expected, retired }
const unexpectedExits = [];
const faults = [];
const acked = [];
/** Every 5xx the gateway answered while the workload ran: { status, what, at }. */
const serverErrors = [];
const stats = { submissionRetries: 0, abandoned: 0, serviceRestartsNeeded: 0 };
let baseEnv;
let phase = 'setup';
let startupFailure;
let postgres;
let redis;
let nats;
let pool;
let runnerSeq = 0;

function tail(file, lines = 15) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

function startService(name, app, extraEnv = {}) {
  const logFile = join(logDir, `${name}.log`);
  const s = services.get(name) ?? { name, app, extraEnv };
  s.env = { ...baseEnv, ...extraEnv };
  appendFileSync(logFile, `--- chaos ${clock()}: starting ${name}\n`);
  s.proc = startApp(root, app, s.env, logFile, { append: true });
  s.expected = false;
  s.logFile = logFile;
  const proc = s.proc;
  proc.child.once('exit', (code, signal) => onServiceExit(s, proc, code, signal));
  services.set(name, s);
  return s;
}

function onServiceExit(s, proc, code, signal) {
  if (proc !== s.proc || s.expected || phase === 'cleanup') return;
  const what = `${s.name} exited on its own (code ${code}, signal ${signal})`;
  if (phase === 'startup') {
    startupFailure = new Fatal(
      `${what} during start-up; last lines of its log:\n${tail(s.logFile)}`,
    );
    return;
  }
  const during = faults.at(-1) && !faults.at(-1).endAt ? ` during fault ${faults.length}` : '';
  log(`!!!!!! ${what}${during}: restarting it. Last lines of ${s.logFile}:`);
  out.write(`${tail(s.logFile).replace(/^/gm, '    | ')}\n`);
  stats.serviceRestartsNeeded++;
  unexpectedExits.push({
    service: s.name,
    code,
    signal,
    at: Date.now(),
    fault: faults.length || null,
  });
  setTimeout(() => {
    if (phase !== 'cleanup' && s.proc === proc) startService(s.name, s.app, s.extraEnv);
  }, 1_000);
}

async function killService(name, signal = 'SIGKILL') {
  const s = services.get(name);
  s.expected = true;
  s.proc.child.kill(signal);
  await exited(s.proc.child);
}

function startRunner() {
  const id = `chaos-runner-${++runnerSeq}`;
  startService(`agent-runner-${id}`, 'agent-runner', {
    RUNNER_ID: id,
    RUNNER_SLOTS: String(RUNNER_SLOTS),
    RUNNER_WORKDIR: join(runDir, 'work', id),
  }).runnerId = id;
  return id;
}

const liveRunners = () =>
  [...services.values()].filter((s) => s.app === 'agent-runner' && !s.retired);

async function query(sql, params = []) {
  return (await pool.query(sql, params)).rows;
}

async function statusLine() {
  try {
    const rows = await query('SELECT status, count(*)::int AS n FROM task GROUP BY 1 ORDER BY 1');
    return rows.map((r) => `${r.status} ${r.n}`).join(', ') || 'no tasks yet';
  } catch (error) {
    return `(database: ${errorText(error)})`;
  }
}

/** `Authorization` of the harness's admin key, set once migrations have run. */
let auth = {};

/** A request to the gateway; once the services are up, every 5xx answer is counted. */
async function gateway(url, init = {}) {
  const res = await fetch(url, init);
  if (res.status >= 500 && phase !== 'startup' && phase !== 'cleanup') {
    const path = new URL(url).pathname.replace(/[0-9a-f-]{36}/g, ':id');
    serverErrors.push({
      status: res.status,
      what: `${init.method ?? 'GET'} ${path}`,
      at: Date.now(),
    });
  }
  return res;
}

async function waitUntilUp(url, runnerIds, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  let last = 'nothing answered';
  while (Date.now() < deadline) {
    if (startupFailure) throw startupFailure;
    try {
      const health = await fetch(`${url}/health`);
      const runners = await fetch(`${url}/runners`, { headers: auth }).then((r) =>
        r.ok ? r.json() : { items: [] },
      );
      const online = runners.items.filter((r) => r.status === 'ONLINE' && runnerIds.includes(r.id));
      last = `/health ${health.status}, ${online.length} of ${runnerIds.length} runners ONLINE`;
      if (health.ok && online.length === runnerIds.length) return;
    } catch (error) {
      last = errorText(error);
    }
    await sleep(250);
  }
  throw new Fatal(`the services did not come up within ${timeoutMs / 1000} s (${last})`);
}

// Submissions: paced over the fault window; a failed one is tried again as a new
// ticket with a new tag (one that failed may still have been written: the report
// shows those as unacknowledged tickets in the database, not as losses).
async function submitAll(url, load = false) {
  const total = load ? LOAD_TASKS : TASKS;
  const tickets = Math.ceil(total / TEMPLATE.length);
  const spreadMs = load ? (total / LOAD_TASKS_PER_S) * 1000 : PROFILE.spreadMs;
  const interval = tickets > 1 ? spreadMs / (tickets - 1) : 0;
  const t0 = Date.now();
  // The load phase keeps its rate however long each answer takes: submissions overlap.
  const inFlight = [];
  for (let n = 1; n <= tickets; n++) {
    const due = t0 + (n - 1) * interval;
    if (due > Date.now()) await sleep(due - Date.now());
    const size = n < tickets ? TEMPLATE.length : total - TEMPLATE.length * (tickets - 1);
    const submitted = submitTicket(url, n, size, load);
    if (load) inFlight.push(submitted);
    else await submitted;
  }
  await Promise.all(inFlight);
  const mine = acked.filter((a) => (a.phase === 'load') === load).length;
  log(`all ${tickets} ${load ? 'load phase ' : ''}tickets submitted (${mine} acknowledged)`);
}

async function submitTicket(url, n, size, load = false) {
  const deadline = Date.now() + 3 * 60_000;
  for (let attempt = 1; ; attempt++) {
    const tag = `${load ? 'l' : 't'}${n}-${attempt}`;
    let why;
    try {
      const body = (load ? loadTicketBody : ticketBody)(effectsFile, tag, size);
      const res = await gateway(`${url}/tickets`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (res.status === 201) {
        const ticket = JSON.parse(text);
        const taskIds = Array.isArray(ticket.tasks)
          ? ticket.tasks.map((t) => t.id)
          : await ticketTaskIds(url, ticket.id);
        acked.push({
          n,
          tag,
          ticketId: ticket.id,
          taskIds,
          at: Date.now(),
          phase: load ? 'load' : 'faults',
        });
        return;
      }
      // A 4xx is the harness's fault (a bad body), not a fault it injected.
      if (res.status < 500)
        throw new Fatal(`POST /tickets answered ${res.status}: ${text.slice(0, 500)}`);
      why = `${res.status} ${text.slice(0, 160)}`;
    } catch (error) {
      if (error instanceof Fatal) throw error;
      why = errorText(error);
    }
    if (phase === 'cleanup') return;
    stats.submissionRetries++;
    if (Date.now() > deadline) {
      stats.abandoned++;
      log(`ticket ${n}: giving up after ${attempt} submissions (${why})`);
      return;
    }
    log(`ticket ${n} (${tag}) not acknowledged (${why}); submitting again in 2 s`);
    await sleep(2_000);
  }
}

async function ticketTaskIds(url, ticketId) {
  for (;;) {
    try {
      const res = await gateway(`${url}/tickets/${ticketId}`, { headers: auth });
      if (res.ok) return (await res.json()).tasks.map((t) => t.id);
    } catch {
      // the gateway or the database is down for a moment
    }
    await sleep(1_000);
  }
}

// Faults. Each records when it began (`at`) and when the broken part was back (`endAt`).
function beginFault(kind, target, note = '') {
  const f = { n: faults.length + 1, kind, target, at: Date.now(), endAt: null, note };
  faults.push(f);
  log(`FAULT ${f.n}/${FAULTS.length} ${kind}: ${target}${note ? ` (${note})` : ''}`);
  return f;
}
function endFault(f, what) {
  f.endAt = Date.now();
  log(`FAULT ${f.n} over after ${fmtMs(f.endAt - f.at)}: ${what}`);
}

async function busiestRunner() {
  // Wait a little for a runner with running work: killing an idle one tests nothing.
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const ids = liveRunners().map((s) => s.runnerId);
    try {
      const [row] = await query(
        `SELECT runner_id, count(*)::int AS n FROM run WHERE status = 'RUNNING'
           AND runner_id = ANY($1) GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1`,
        [ids],
      );
      if (row) return { id: row.runner_id, running: row.n };
    } catch {
      // database unavailable: pick any
    }
    await sleep(500);
  }
  return { id: liveRunners()[0].runnerId, running: 0 };
}

const FAULT_ACTIONS = {
  async 'runner-kill'() {
    const { id, running } = await busiestRunner();
    const s = liveRunners().find((r) => r.runnerId === id);
    const f = beginFault('runner-kill', id, `kill -9, ${running} runs RUNNING on it`);
    s.retired = true;
    await killService(s.name);
    await sleep(2_000);
    const fresh = startRunner();
    f.replacement = fresh;
    endFault(f, `started a fresh runner ${fresh}`);
  },
  async 'scheduler+orchestrator-kill'() {
    const f = beginFault('scheduler+orchestrator-kill', 'scheduler, orchestrator', 'kill -9 both');
    await Promise.all([killService('scheduler'), killService('orchestrator')]);
    await sleep(2_000);
    startService('scheduler', 'scheduler');
    startService('orchestrator', 'orchestrator');
    endFault(f, 'restarted both');
  },
  async 'nats-restart'() {
    const f = beginFault('nats-restart', `nats-server :${nats.port}`, 'kill -9, same store dir');
    await nats.kill('SIGKILL');
    await sleep(2_000);
    await nats.start();
    endFault(f, 'nats-server back, JetStream healthy');
  },
  async 'redis-flush'() {
    const f = beginFault('redis-flush', `redis-server :${redis.port}`, 'kill -9, restart empty');
    await redis.kill('SIGKILL');
    await sleep(1_000);
    await redis.start();
    endFault(f, 'redis-server back, empty');
  },
  async 'postgres-stop'() {
    const f = beginFault('postgres-stop', `postgres :${postgres.port}`, 'pg_ctl stop -m fast, 3 s');
    postgres.stop('fast');
    await sleep(3_000);
    postgres.start();
    endFault(f, 'postgres back');
  },
};

async function runFaults() {
  // Let the first tickets get going: a fault should find runs in flight.
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const [row] = await query(`SELECT count(*)::int AS n FROM run WHERE status = 'RUNNING'`).catch(
      () => [{ n: 0 }],
    );
    if (row.n >= RUNNER_SLOTS) break;
    await sleep(500);
  }
  for (const kind of FAULTS) {
    log(`tasks: ${await statusLine()}`);
    await FAULT_ACTIONS[kind]();
    await sleep(PROFILE.gapMs);
  }
}

async function settle(ackedIds, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let lastReport = 0;
  for (;;) {
    let open = null;
    try {
      const [row] = await query(
        `SELECT count(*)::int AS n FROM task WHERE id = ANY($1::uuid[]) AND status <> ALL($2)`,
        [ackedIds, [...TERMINAL]],
      );
      const [present] = await query(
        'SELECT count(*)::int AS n FROM task WHERE id = ANY($1::uuid[])',
        [ackedIds],
      );
      open = row.n + (ackedIds.length - present.n);
    } catch (error) {
      log(`settling: database: ${errorText(error)}`);
    }
    if (open === 0) return true;
    if (Date.now() > deadline) return false;
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      log(`settling: ${open ?? '?'} acknowledged tasks not terminal; ${await statusLine()}`);
    }
    await sleep(1_000);
  }
}

async function collect() {
  const [tickets, tasks, runs, edges] = await Promise.all([
    query('SELECT id, title, status FROM ticket'),
    query('SELECT id, ticket_id, key, status, attempt, finished_at FROM task'),
    query(
      `SELECT id, task_id, attempt, status::text, runner_id, dispatched_at, started_at,
              finished_at, error_class::text, exit_code FROM run`,
    ),
    query('SELECT task_id, depends_on_id FROM task_dependency'),
  ]);
  return { tickets, tasks, runs, edges, effectsText: readFileSync(effectsFile, 'utf8') };
}

function printReport(r) {
  const rows = [];
  const row = (label, value) => rows.push([label, String(value)]);
  const section = (title) => rows.push([title, null]);
  const list = (obj) =>
    Object.entries(obj)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ') || '-';
  section('verdict');
  row('result', r.pass ? 'PASS' : `FAIL: ${r.failures.join('; ')}`);
  row('form', `${r.form}, ${r.tasksPlanned} tasks, ${r.faults.length} faults`);
  row('run directory', r.runDir + (r.runDirKept ? '' : ' (removed)'));
  row(
    'duration',
    `${fmtMs(r.durationMs)} (settled: ${r.settled ? fmtMs(r.settleMs) : 'NO, timed out'})`,
  );
  section('submission');
  row('tickets acknowledged', `${r.submission.ticketsAcknowledged} of ${r.submission.tickets}`);
  row('tasks acknowledged', r.submission.tasksAcknowledged);
  row('submission retries', r.submission.retries);
  row('submissions abandoned', r.submission.abandoned);
  row(
    'unacknowledged, yet in DB',
    `${r.tasks.unacknowledgedTickets} tickets, ${r.tasks.unacknowledgedTasks} tasks` +
      (r.tasks.unacknowledgedTasks ? ` (${list(r.tasks.unacknowledgedByStatus)})` : ''),
  );
  section('tasks (acknowledged)');
  row('by status', list(r.tasks.acknowledgedByStatus));
  row('SUCCEEDED', r.tasks.succeeded);
  row('lost: missing from DB', r.tasks.lostMissing);
  row('lost: never terminal', r.tasks.lostNotTerminal);
  row(
    'stuck: in DB, not terminal',
    `${r.tasks.stuck}${r.tasks.stuck ? ` (${list(r.tasks.stuckByStatus)})` : ''}`,
  );
  for (const e of r.tasks.stuckExamples) row('  e.g.', e);
  section('runs');
  row('total', r.runs.total);
  row('re-executions', r.runs.reExecutions);
  row('by outcome', list(r.runs.byOutcome));
  row('re-executions after', list(r.runs.reExecutionsAfter));
  section('side effects (effects.log)');
  row(
    'lines',
    `${r.effects.lines} (${r.effects.starts} start, ${r.effects.ends} end, ${r.effects.malformed} malformed)`,
  );
  row('unexplained extra effects', r.effects.unexplained);
  row(
    '  from runs Drover does not know',
    r.effects.unknownRun + r.effects.withoutTask + r.effects.taskIdMismatch,
  );
  row('  runs started twice', r.effects.duplicateStarts);
  row('  more runs started than recorded', r.effects.excessStarts);
  row(
    'runs that did the work, recorded failed',
    `${r.effects.completedButNotSucceeded}` +
      (r.effects.completedButNotSucceeded
        ? ` (${list(r.effects.completedButNotSucceededByOutcome)}; re-run, work done twice)`
        : ''),
  );
  row('with empty ids (env not set)', r.effects.withEmptyIds);
  row("DROVER_ATTEMPT not the run's", r.effects.attemptMismatch);
  for (const e of r.effects.examples) row('  e.g.', e);
  section('work done more than once');
  const c = r.completedMoreThanOnce;
  row(
    'tasks completed more than once',
    `${c.total} (${c.excusedByRunnerKill} after a runner kill: unavoidable; ${c.unexcused} not)`,
  );
  row(
    '  in the load phase (must be 0)',
    r.loadPhase
      ? `${c.inLoadPhase} of ${r.loadPhase.tasks} tasks (${LOAD_TASKS_PER_S} tasks/s, 1 s heartbeats, ${fmtMs(r.loadPhase.ms)})`
      : 'no load phase',
  );
  for (const e of c.examples) row('  e.g.', e);
  section('gateway answers');
  const e5 = r.serverErrors;
  row(
    '5xx answers',
    `${e5.total} (${e5.duringOutages} 502/503/504 during an outage: unavoidable; ${e5.unexcused} not)` +
      (e5.total ? ` by status: ${list(e5.byStatus)}` : ''),
  );
  for (const e of e5.examples) row('  e.g.', e);
  section('ordering');
  row('dependency edges', r.order.edges);
  row('order violations', r.order.violations);
  for (const e of r.order.examples) row('  e.g.', `${e.task} after ${e.dependsOn}: ${e.why}`);
  row('SUCCEEDED without end line', r.phantomSuccesses);
  for (const e of r.phantomExamples) row('  e.g.', `${e.key} ${e.taskId} run ${e.run}`);
  section('services');
  row('restarts needed (goal: 0)', r.serviceRestartsNeeded);
  for (const e of r.unexpectedExits) {
    row(
      '  exit',
      `${e.service} code ${e.code} signal ${e.signal} at ${rel(e.at)} (fault ${e.fault ?? '-'})`,
    );
  }
  const width = Math.max(...rows.filter(([, v]) => v !== null).map(([l]) => l.length)) + 2;
  const lines = ['', 'DROVER CHAOS TEST REPORT'];
  for (const [label, value] of rows) {
    if (value === null) lines.push(label.toUpperCase());
    else lines.push(`  ${label.padEnd(width)}${value}`);
  }
  if (r.faults.length) {
    lines.push('FAULTS (recovery: runner kill = until every run it was running started elsewhere;');
    lines.push('        others = from the fault end until the next task success was recorded)');
    const head = ['#', 'at', 'kind', 'target', 'down', 'recovery', 'detail'];
    const table = r.faults.map((f) => [
      String(f.n),
      rel(f.at),
      f.kind,
      f.target,
      fmtMs(f.endAt - f.at),
      f.recoveryMs === null ? 'NONE' : fmtMs(f.recoveryMs),
      f.detail,
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
    for (const t of [head, ...table])
      lines.push(`  ${t.map((c, i) => c.padEnd(w[i])).join('  ')}`.trimEnd());
    const k = r.runnerKillRecoveryMs;
    lines.push(
      `  runner death to work running elsewhere: min ${fmtMs(k.min)}, median ${fmtMs(k.median)}, ` +
        `max ${fmtMs(k.max)} (${k.measured} of ${k.kills} kills measured)`,
    );
  }
  out.write(`${lines.join('\n')}\n`);
}

async function cleanup(keepAll, keepLogs) {
  phase = 'cleanup';
  // Runners first, while the health monitor is still there to deregister them.
  const procs = [...services.values()].filter((s) => s.proc);
  const runnersFirst = [
    procs.filter((s) => s.app === 'agent-runner'),
    procs.filter((s) => s.app !== 'agent-runner'),
  ];
  for (const group of runnersFirst) {
    await stopApps(
      group.map((s) => s.proc),
      8_000,
    ).catch(() => undefined);
  }
  await pool?.end().catch(() => undefined);
  await Promise.all([redis?.stop(), nats?.stop()]).catch(() => undefined);
  if (postgres?.running || existsSync(join(postgres?.data ?? '/nonexistent', 'postmaster.pid'))) {
    try {
      postgres.stop('immediate');
    } catch (error) {
      log(`could not stop the private Postgres: ${error.message}`);
    }
  }
  if (keepAll) return;
  if (keepLogs) {
    // A failed run keeps its evidence (logs, effect log), not the data directories.
    for (const d of ['pg', 'nats', 'work'])
      rmSync(join(runDir, d), { recursive: true, force: true });
  } else rmSync(runDir, { recursive: true, force: true });
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${signal}: stopping everything (again to exit at once)`);
    cleanup(opts.keep, true).finally(() => {
      log(`logs kept in ${runDir}/logs`);
      process.exit(130);
    });
  });
}

let code = 2;
let report;
/** The no-fault load phase: { tasks, settled, ms }, or null when skipped. */
let loadPhase = null;
try {
  log(`run directory ${runDir} (service logs in logs/, side effects in effects.log)`);
  const ports = [];
  while (ports.length < 5) {
    const p = await freePort(0);
    if (!ports.includes(p)) ports.push(p);
  }
  const [pgP, redisP, natsP, monitorP, gatewayP] = ports;

  postgres = new PrivatePostgres(bins, join(runDir, 'pg'), join(logDir, 'postgres.log'), pgP);
  log(`initdb + start of a private Postgres on 127.0.0.1:${pgP}`);
  postgres.init();
  postgres.start();
  redis = new Daemon(
    'redis-server',
    bins.redis,
    ['--port', String(redisP), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    join(logDir, 'redis.log'),
    () => answers(redisP),
  );
  redis.port = redisP;
  mkdirSync(join(runDir, 'nats'));
  nats = new Daemon(
    'nats-server',
    bins.nats,
    [
      '-a',
      '127.0.0.1',
      '-p',
      String(natsP),
      '-m',
      String(monitorP),
      '-js',
      '-sd',
      join(runDir, 'nats'),
    ],
    join(logDir, 'nats.log'),
    // Healthy means JetStream is up too, not just the port: the services create
    // their streams on start.
    () =>
      fetch(`http://127.0.0.1:${monitorP}/healthz`)
        .then((r) => r.ok)
        .catch(() => false),
  );
  nats.port = natsP;
  log(`starting a private Redis on :${redisP} and NATS on :${natsP}`);
  await Promise.all([redis.start(), nats.start()]);

  const databaseUrl = postgres.url;
  baseEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    NATS_URL: `nats://127.0.0.1:${natsP}`,
    REDIS_URL: `redis://127.0.0.1:${redisP}`,
    DROVER_SUBJECT_PREFIX: '',
    LOG_LEVEL: 'log',
    LOG_FORMAT: 'text',
    // Plain text in the log files (Nest colours its output even when not on a terminal).
    NO_COLOR: '1',
    RUNNER_HEARTBEAT_MS: '1000',
    HEALTH_CHECK_INTERVAL_MS: '250',
    DROVER_STALE_AFTER_HEARTBEATS: '3',
    HEALTH_RECONCILE_INTERVAL_MS: '1000',
    DROVER_START_DEADLINE_MS: '15000',
    HEALTH_TIMER_GRACE_MS: '2000',
    DROVER_RETRY_BACKOFF_MS: '500',
    DROVER_RETRY_MAX_BACKOFF_MS: '4000',
    DROVER_RETRY_MAX_ATTEMPTS: '20',
    RUNNER_SHUTDOWN_GRACE_MS: '2000',
    // The chaos run tests the control plane: its commands need no container.
    RUNNER_SANDBOX: 'process',
    DROVER_ARTIFACTS: `file://${join(runDir, 'artifacts')}`,
    DROVER_CONCURRENCY: '{"default":12}',
    GATEWAY_PORT: String(gatewayP),
    // A private stack beside whatever else runs here: no service takes a fixed metrics port.
    ORCHESTRATOR_METRICS_PORT: '0',
    SCHEDULER_METRICS_PORT: '0',
    RUNNER_METRICS_PORT: '0',
    HEALTH_METRICS_PORT: '0',
  };
  log('applying migrations to the private database');
  migrate(root, baseEnv, ['ignore', opts.json ? 2 : 1, 2]);
  auth = { authorization: `Bearer ${bootstrapKey(root, baseEnv).key.key}` };
  log('building the services');
  buildApps(root, APPS);
  pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
  // Postgres goes away on purpose; an idle client's error must not end the harness.
  pool.on('error', () => undefined);

  phase = 'startup';
  for (const app of ['health-monitor', 'orchestrator', 'scheduler', 'gateway'])
    startService(app, app);
  const runnerIds = Array.from({ length: INITIAL_RUNNERS }, () => startRunner());
  const url = `http://127.0.0.1:${gatewayP}`;
  await waitUntilUp(url, runnerIds);
  phase = 'running';
  log(`services up at ${url}; ${runnerIds.length} runners ONLINE`);

  if (LOAD_TASKS) {
    log(`load phase: ${LOAD_TASKS} quick tasks at ${LOAD_TASKS_PER_S} tasks/s, no fault`);
    const loadStart = Date.now();
    await submitAll(url, true);
    const ids = acked.filter((a) => a.phase === 'load').flatMap((a) => a.taskIds);
    const settledLoad = await settle(ids, 90_000);
    loadPhase = { tasks: ids.length, settled: settledLoad, ms: Date.now() - loadStart };
    log(`load phase ${settledLoad ? 'settled' : 'NOT settled'} after ${fmtMs(loadPhase.ms)}`);
  }

  const tickets = Math.ceil(TASKS / TEMPLATE.length);
  log(`submitting ${TASKS} tasks in ${tickets} tickets over ${fmtMs(PROFILE.spreadMs)}`);
  const workStart = Date.now();
  const submitting = submitAll(url);
  submitting.catch(() => undefined);
  if (FAULTS.length) {
    await Promise.race([runFaults(), submitting.then(() => new Promise(() => undefined))]);
    log('all faults injected');
  }
  await submitting;

  log(`waiting up to ${fmtMs(PROFILE.settleMs)} for every acknowledged task to end`);
  const ackedIds = acked.filter((a) => a.phase !== 'load').flatMap((a) => a.taskIds);
  const settleStart = Date.now();
  const settled = await settle(ackedIds, PROFILE.settleMs);
  const settleMs = Date.now() - settleStart;
  log(settled ? `settled in ${fmtMs(settleMs)}` : 'NOT settled: timed out');
  // A killed runner's commands are not killed with it (they run in their own process
  // groups) and may still append their end lines for up to 2.5 s.
  await sleep(3_000);

  const figures = analyze({ ...(await collect()), acked, faults, serverErrors });
  const failures = [];
  if (!settled) failures.push('tasks did not settle in time');
  if (figures.tasks.lost) failures.push(`${figures.tasks.lost} tasks lost`);
  if (figures.tasks.stuck) failures.push(`${figures.tasks.stuck} tasks stuck`);
  if (figures.order.violations) failures.push(`${figures.order.violations} order violations`);
  if (figures.phantomSuccesses) {
    failures.push(`${figures.phantomSuccesses} SUCCEEDED tasks without an end line`);
  }
  // Interleaved or cut lines would hide effects from the checks above.
  if (figures.effects.malformed)
    failures.push(`${figures.effects.malformed} malformed effect lines`);
  if (figures.effects.unexplained) {
    failures.push(`${figures.effects.unexplained} unexplained extra side effects`);
  }
  if (stats.abandoned) failures.push(`${stats.abandoned} tickets never acknowledged`);
  if (figures.completedMoreThanOnce.unexcused) {
    failures.push(
      `${figures.completedMoreThanOnce.unexcused} tasks completed more than once (no killed runner to blame)`,
    );
  }
  if (figures.serverErrors.unexcused) {
    failures.push(`${figures.serverErrors.unexcused} 5xx answers outside an outage`);
  }
  if (loadPhase && !loadPhase.settled) failures.push('the load phase did not settle in time');
  const pass = failures.length === 0;
  code = pass ? 0 : 1;
  report = {
    pass,
    failures,
    form: opts['no-faults'] ? `${PROFILE.name}, no faults` : PROFILE.name,
    tasksPlanned: TASKS,
    runDir,
    runDirKept: opts.keep || !pass,
    durationMs: Date.now() - started,
    workloadMs: Date.now() - workStart,
    settled,
    settleMs,
    submission: {
      tickets,
      // The fault phase's, like the tasks below; the load phase has its own row.
      ticketsAcknowledged: acked.filter((a) => a.phase !== 'load').length,
      tasksAcknowledged: ackedIds.length,
      retries: stats.submissionRetries,
      abandoned: stats.abandoned,
    },
    serviceRestartsNeeded: stats.serviceRestartsNeeded,
    unexpectedExits,
    loadPhase,
    ...figures,
  };
} catch (error) {
  log(`harness failed: ${error instanceof Fatal ? error.message : (error.stack ?? error.message)}`);
  code = 2;
} finally {
  if (!interrupted) {
    log(opts.keep || code !== 0 ? 'stopping everything (keeping the logs)' : 'stopping everything');
    await cleanup(opts.keep, code !== 0);
  }
}
if (report) {
  printReport(report);
  if (opts.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
}
if (code !== 0) log(`logs kept in ${runDir}/logs`);
process.exit(code);
