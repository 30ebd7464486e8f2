import { Logger } from '@nestjs/common';
import { Subjects } from '@drover/contracts';
import type { PrismaService } from '@drover/db';
import type { PublishedEvent } from '@drover/events';
import { cachedOnScrape, type ServiceMetrics } from './metrics';

const FINAL_RUN = new Set(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED']);

interface RunChange {
  runId: string;
  status: string;
  errorClass: string | null;
}

interface RunTimes {
  id: string;
  agent: string;
  provider: string;
  /** Seconds, or null when one of the two moments is missing. */
  ready_to_dispatched: number | null;
  dispatched_to_started: number | null;
  run_seconds: number | null;
}

/**
 * The metrics every change of state passes through: each event a service writes
 * goes through its outbox relay, so counting there sees every task transition,
 * run ending and log batch exactly once (after the batch is committed), whichever
 * use case made it. Run timings are read back from the run's row, in one query
 * per batch.
 */
export function relayMetrics(
  metrics: ServiceMetrics,
  prisma: PrismaService,
): (events: PublishedEvent[]) => void {
  const logger = new Logger('RelayMetrics');
  const transitions = metrics.counter({
    name: 'drover_task_transitions_total',
    help: 'Task status changes published, by previous and new status (from="none": created)',
    labelNames: ['from', 'to'],
  });
  const lag = metrics.histogram({
    name: 'drover_outbox_relay_lag_seconds',
    help: 'Time from an event being written to the outbox to its publication on NATS',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
  });
  const logLines = metrics.counter({
    name: 'drover_log_lines_ingested_total',
    help: 'Run log lines stored and published',
  });
  const dispatchLatency = metrics.histogram({
    name: 'drover_dispatch_latency_seconds',
    help: 'Time from a task becoming READY to a run of it being dispatched',
    labelNames: ['provider'],
  });
  const startLatency = metrics.histogram({
    name: 'drover_start_latency_seconds',
    help: 'Time from a run being dispatched to its runner starting it',
    labelNames: ['provider'],
  });
  const runDuration = metrics.histogram({
    name: 'drover_run_duration_seconds',
    help: 'Time from a run starting (or being dispatched, if it never started) to its end',
    labelNames: ['agent', 'outcome'],
  });
  const rateLimited = metrics.counter({
    name: 'drover_rate_limited_runs_total',
    help: 'Runs ended because the provider refused them (RATE_LIMITED)',
    labelNames: ['provider'],
  });

  const observeRuns = async (changes: RunChange[]): Promise<void> => {
    const rows = await prisma.$queryRaw<RunTimes[]>`
      SELECT r.id::text AS id, t.agent, t.provider,
             extract(epoch FROM r.dispatched_at - t.ready_at)::float8 AS ready_to_dispatched,
             extract(epoch FROM r.started_at - r.dispatched_at)::float8 AS dispatched_to_started,
             extract(epoch FROM r.finished_at - coalesce(r.started_at, r.dispatched_at))::float8
               AS run_seconds
      FROM run r JOIN task t ON t.id = r.task_id
      WHERE r.id = ANY(${changes.map((c) => c.runId)}::uuid[])`;
    const byId = new Map(rows.map((row) => [row.id, row]));
    for (const change of changes) {
      const run = byId.get(change.runId);
      if (!run) continue; // deleted with its ticket meanwhile
      const seconds = (value: number | null) => Math.max(0, value ?? 0);
      if (change.status === 'DISPATCHED' && run.ready_to_dispatched !== null) {
        dispatchLatency.observe({ provider: run.provider }, seconds(run.ready_to_dispatched));
      } else if (change.status === 'RUNNING' && run.dispatched_to_started !== null) {
        startLatency.observe({ provider: run.provider }, seconds(run.dispatched_to_started));
      } else if (FINAL_RUN.has(change.status)) {
        const outcome = change.status.toLowerCase();
        runDuration.observe({ agent: run.agent, outcome }, seconds(run.run_seconds));
        if (change.errorClass === 'RATE_LIMITED') rateLimited.inc({ provider: run.provider });
      }
    }
  };

  return (events) => {
    const runs: RunChange[] = [];
    for (const { subject, data, lagSeconds } of events) {
      lag.observe(Math.max(0, lagSeconds));
      if (subject.endsWith(Subjects.taskChanged)) {
        const change = data as { previous?: string | null; status: string };
        transitions.inc({ from: change.previous ?? 'none', to: change.status });
      } else if (subject.endsWith(Subjects.logAppended)) {
        logLines.inc((data as { lines: unknown[] }).lines.length);
      } else if (subject.endsWith(Subjects.runChanged)) {
        runs.push(data as RunChange);
      }
    }
    if (runs.length) {
      // Metrics never hold up or fail the relay.
      observeRuns(runs).catch((error: Error) =>
        logger.warn(`run metrics not recorded: ${error.message}`),
      );
    }
  };
}

/** Events written and not yet published, counted on scrape (cached 5 s). */
export function outboxBacklogGauge(metrics: ServiceMetrics, prisma: PrismaService): void {
  const count = cachedOnScrape(5_000, async () => {
    const [row] = await prisma.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS n FROM event WHERE published_at IS NULL`;
    return row?.n ?? 0;
  });
  metrics.gauge({
    name: 'drover_outbox_backlog',
    help: 'Events in the outbox not yet published to NATS',
    async collect() {
      this.set(await count());
    },
  });
}
