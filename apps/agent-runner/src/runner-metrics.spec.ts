import { ServiceMetrics } from '@drover/service-kit';
import { runnerMetrics } from './runner-metrics';

async function values(metrics: ServiceMetrics, name: string): Promise<Record<string, number>> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`${name} is not registered`);
  const { values } = await metric.get();
  return Object.fromEntries(
    values.map((v) => [
      Object.values(v.labels)
        .filter((l) => l !== undefined)
        .join(','),
      v.value,
    ]),
  );
}

describe(runnerMetrics.name, () => {
  it('counts the slots and the runs in progress by agent at each scrape', async () => {
    const metrics = new ServiceMetrics('agent-runner');
    const runs = [{ agent: 'command' }, { agent: 'claude-code' }, { agent: 'command' }];
    runnerMetrics(metrics, { slots: 4, runs: () => runs });

    expect(await values(metrics, 'drover_runner_local_slots')).toEqual({ total: 4, free: 1 });
    expect(await values(metrics, 'drover_runner_runs_in_progress')).toEqual({
      command: 2,
      'claude-code': 1,
    });

    runs.splice(0, 2);
    expect(await values(metrics, 'drover_runner_local_slots')).toEqual({ total: 4, free: 3 });
    // An agent with no run now reads 0, not "no data".
    expect(await values(metrics, 'drover_runner_runs_in_progress')).toEqual({
      command: 1,
      'claude-code': 0,
    });
  });
});
