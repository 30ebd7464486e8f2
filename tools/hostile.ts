// `npm run -s hostile -- [--seed N] [--runs N] [--json]`: hostile input against a private
// Drover stack. Generates requests for every operation of the gateway's OpenAPI document
// with fast-check (seeded: the seed is printed, `--seed` replays it), sends a
// hand-written corpus and hostile WebSocket frames, and checks that every request
// invalid by construction gets a 4xx, every valid one its expected status, nothing a 5xx
// or no answer, no service dies, and /health answers 200 at the end. Every request carries
// the suite's key (an admin of the operator project, issued by the bootstrap script) but
// those about keys themselves: the auth corpus, and the authorization matrix (every
// operation times every kind of credential, each cell's status written down beforehand),
// printed after the table.
//
//   --runs N   generated requests, spread over the operations (default 5,000); the
//              corpus and the WebSocket frames come on top
//   --seed N   replay a run
//   --json     print the summary as JSON on stdout (progress goes to stderr; `npm run -s`
//              keeps npm's own banner off stdout)
//
// The generators are in tools/hostile/{generators,ticket-*,wire-mutations,access-bodies}.ts,
// the per-endpoint rules in endpoint-rules.ts, the corpus in corpus.ts, auth-corpus.ts,
// idempotency.ts, websocket.ts and ws-auth.ts, the matrix in authz.ts. Only the seed
// tickets' fixed commands ever run: the runner is stopped before anything generated is
// submitted.
import fc from 'fast-check';
import { authCorpus } from './hostile/auth-corpus';
import { authorizationMatrix, matrixTable, type MatrixResult } from './hostile/authz';
import { corpus } from './hostile/corpus';
import { operationCases, share } from './hostile/generators';
import { attackIdempotency } from './hostile/idempotency';
import { loadOperations, type Operation } from './hostile/openapi';
import { createPrincipals, expired } from './hostile/principals';
import { Recorder, table, type Tally } from './hostile/report';
import { seed as seedStack } from './hostile/seed';
import { Sender } from './hostile/send';
import { Stack } from './hostile/stack';
import type { Case } from './hostile/types';
import { attackEventStream } from './hostile/websocket';
import { attackEventStreamAuth } from './hostile/ws-auth';
import type { Pools } from './hostile/endpoint-rules';

const MIN_REQUESTS = 5_000;
const CONCURRENCY = 8;

interface Options {
  seed: number;
  runs: number;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const options: Options = {
    seed: Math.floor(Math.random() * 2 ** 31),
    runs: MIN_REQUESTS,
    json: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const number = () => {
      const value = Number(argv[++i]);
      if (!Number.isSafeInteger(value) || value < 0) throw new Error(`${arg} needs a whole number`);
      return value;
    };
    if (arg === '--seed') options.seed = number();
    else if (arg === '--runs') options.runs = number();
    else if (arg === '--json') options.json = true;
    else throw new Error(`unknown argument ${arg}; usage: hostile [--seed N] [--runs N] [--json]`);
  }
  return options;
}

const began = performance.now();
const log = (line: string) =>
  process.stderr.write(`hostile [${((performance.now() - began) / 1000).toFixed(1)} s]: ${line}\n`);

/** The generated cases: `runs` in all, shared out by `share`, interleaved. */
function generate(operations: Operation[], pools: Pools, options: Options): Case[] {
  const total = operations.reduce((sum, op) => sum + share(op), 0);
  const counts = operations.map((op) => Math.floor((options.runs * share(op)) / total));
  // What rounding down left over goes to the first operations, one each.
  const left = options.runs - counts.reduce((a, b) => a + b, 0);
  for (let i = 0; i < left; i++) counts[i % counts.length] += 1;
  const perOperation = operations.map((op, i) =>
    fc.sample(operationCases(op, pools), { seed: (options.seed + i) | 0, numRuns: counts[i] }),
  );
  const cases: Case[] = [];
  for (let round = 0; perOperation.some((list) => round < list.length); round++) {
    for (const list of perOperation) if (round < list.length) cases.push(list[round]);
  }
  return cases;
}

/** Sends `cases`, `concurrency` at a time, recording each answer. */
async function sendAll(cases: Case[], sender: Sender, recorder: Recorder, concurrency: number) {
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const c = cases[next++];
      recorder.record(c, await sender.send(c.wire, c.timeoutMs));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/health`)).status === 200;
  } catch {
    return false;
  }
}

interface Verdict {
  passed: boolean;
  reasons: string[];
}

function verdict(totals: Tally, matrix: MatrixResult, health: boolean, crashed: string[]): Verdict {
  const reasons = [
    totals.sent < MIN_REQUESTS
      ? `${totals.sent} requests, fewer than ${MIN_REQUESTS} (raise --runs)`
      : '',
    totals.s5xx ? `${totals.s5xx} answered 5xx` : '',
    totals.failures ? `${totals.failures} got no answer (timeouts, resets)` : '',
    totals.invalidNon4xx ? `${totals.invalidNon4xx} invalid requests answered other than 4xx` : '',
    totals.mismatches ? `${totals.mismatches} answers other than expected` : '',
    matrix.unexpected ? `${matrix.unexpected} authorization matrix cells other than expected` : '',
    ...matrix.problems.map((p) => `authorization matrix: ${p}`),
    health ? '' : 'GET /health did not answer 200 at the end',
    crashed.length ? `services exited: ${crashed.join(', ')}` : '',
  ].filter(Boolean);
  return { passed: reasons.length === 0, reasons };
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const replay = `npm run hostile -- --seed ${options.seed} --runs ${options.runs}`;
  log(`seed ${options.seed} (replay: ${replay})`);
  const started = performance.now();
  const stack = new Stack(log);
  const interrupted = () => {
    log('interrupted: cleaning up');
    void stack.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await stack.start();
    const principals = await createPrincipals(stack.url, stack.operator);
    log(`projects ${principals.a.slug} and ${principals.b.slug}, and their keys`);
    const { pools, targets } = await seedStack(stack, principals, log);
    await expired(principals);
    const operations = await loadOperations(stack.url);
    log(
      `${operations.length} operations in /docs-json: ${operations.map((o) => o.key).join(', ')}`,
    );
    const key = principals.operator.admin.key;
    const sender = new Sender(new URL(stack.url), key);
    const recorder = new Recorder();
    const fixed = [...corpus(pools), ...authCorpus(operations, pools, principals)];
    log(`corpus: ${fixed.length} requests`);
    const phase = performance.now();
    await sendAll(fixed, sender, recorder, 4);
    log(`corpus sent in ${Math.round((performance.now() - phase) / 1000)} s`);
    const generated = generate(operations, pools, options);
    log(`generated: ${generated.length} requests`);
    const sending = performance.now();
    await sendAll(generated, sender, recorder, CONCURRENCY);
    log(`generated requests sent in ${Math.round((performance.now() - sending) / 1000)} s`);
    log('idempotency and the event stream');
    await attackIdempotency(sender, recorder);
    await attackEventStream(stack.url, key, sender, recorder);
    await attackEventStreamAuth(stack.url, principals, pools, recorder);
    log('the authorization matrix');
    const matrix = await authorizationMatrix(stack.url, operations, principals, targets);
    log('done sending');
    sender.close();
    const health = await healthy(stack.url);
    const crashed = stack.crashed();
    const totals = recorder.totals();
    const result = verdict(totals, matrix, health, crashed);
    const seconds = (performance.now() - started) / 1000;
    if (options.json) {
      const summary = {
        passed: result.passed,
        reasons: result.reasons,
        seed: options.seed,
        runs: options.runs,
        replay,
        seconds: Math.round(seconds),
        health,
        crashed,
        totals,
        endpoints: Object.fromEntries(recorder.endpoints),
        classes: Object.fromEntries(recorder.classes),
        problems: recorder.problems.slice(0, 100),
        matrix,
      };
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    } else {
      printProblems(recorder);
      console.log(table(recorder));
      console.log(`\nauthorization matrix (expected, or expected≠got):\n${matrixTable(matrix)}`);
      console.log(`\nGET /health at the end: ${health ? '200' : 'NOT 200'}`);
      console.log(`seed ${options.seed}, ${Math.round(seconds)} s; replay: ${replay}`);
      console.log(
        result.passed ? 'hostile: passed' : `hostile: FAILED: ${result.reasons.join('; ')}`,
      );
    }
    return result.passed ? 0 : 1;
  } finally {
    await stack.stop();
  }
}

function printProblems(recorder: Recorder): void {
  if (!recorder.problems.length) return;
  console.log(`problems (${recorder.problems.length}; the first 30):`);
  for (const p of recorder.problems.slice(0, 30)) {
    console.log(
      `  ${p.endpoint} [${p.cls}] ${p.what}\n    expected ${p.expected}, got ${p.got.replace(/\s+/g, ' ')}`,
    );
  }
  console.log('');
}

main().then(
  (code) => process.exit(code),
  (error: Error) => {
    log(`failed: ${error.stack ?? error.message}`);
    process.exit(1);
  },
);
