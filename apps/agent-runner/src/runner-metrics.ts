import type { ServiceMetrics } from '@drover/service-kit';

/** What a runner's metrics read when Prometheus scrapes: its slots and the runs it holds. */
export interface RunnerMetricsSource {
  slots: number;
  runs(): Iterable<{ agent: string }>;
}

/**
 * The runner's own figures, live: its slots (`drover_runner_local_slots`) and
 * the runs it is executing by agent (`drover_runner_runs_in_progress`). The
 * control plane's view of every runner, as of each one's last heartbeat, is the
 * health-monitor's `drover_runner_slots{runner}`; run outcomes and durations are
 * counted where they are recorded (the relaying services), not here.
 */
export function runnerMetrics(metrics: ServiceMetrics, source: RunnerMetricsSource): void {
  metrics.gauge({
    name: 'drover_runner_local_slots',
    help: 'Run slots of this runner as it counts them now: state="total" or "free"',
    labelNames: ['state'],
    collect() {
      const busy = [...source.runs()].length;
      this.set({ state: 'total' }, source.slots);
      this.set({ state: 'free' }, Math.max(0, source.slots - busy));
    },
  });
  // An agent seen once stays at 0 when idle (agents are a short list): a series
  // that vanished would read as "no data", not as no runs.
  const seen = new Set<string>();
  metrics.gauge({
    name: 'drover_runner_runs_in_progress',
    help: 'Runs this runner is executing now, by agent',
    labelNames: ['agent'],
    collect() {
      const counts = new Map<string, number>([...seen].map((agent) => [agent, 0]));
      for (const { agent } of source.runs()) counts.set(agent, (counts.get(agent) ?? 0) + 1);
      for (const [agent, n] of counts) {
        seen.add(agent);
        this.set({ agent }, n);
      }
    },
  });
}
