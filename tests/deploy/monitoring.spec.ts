import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { registryMetrics, seriesOf, sourceMetrics, type MetricDef } from './support/metric-catalog';
import { checkQuery, TARGET_LABELS } from './support/promql-check';

// deploy/monitoring: the Grafana dashboard and the Prometheus alert rules query
// only metrics the services register, with the labels they carry.

const ROOT = join(__dirname, '../..');
const MONITORING = join(ROOT, 'deploy/monitoring');

const fromRegistry = registryMetrics();
const scanned = sourceMetrics(ROOT);
const known = seriesOf([
  ...fromRegistry,
  ...scanned.metrics.filter((m) => !fromRegistry.some((r) => r.name === m.name)),
]);

interface Target {
  refId: string;
  expr: string;
  legendFormat?: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: unknown[];
}
interface Dashboard {
  title: string;
  uid: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; type: string; query?: string }[] };
}
interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; interval?: string; rules: Rule[] }[];
}

const dashboard = JSON.parse(
  readFileSync(join(MONITORING, 'grafana-dashboard.json'), 'utf8'),
) as Dashboard;
const rules = parse(readFileSync(join(MONITORING, 'alerts.yaml'), 'utf8')) as RuleFile;
const queryPanels = dashboard.panels.filter((p) => p.type !== 'row');
const targets = queryPanels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p, ...t })));
const alerts = rules.groups.flatMap((g) => g.rules);

const names = (metrics: MetricDef[]) => metrics.map((m) => m.name).sort();

describe('the metric catalog the checks use', () => {
  it('reads every drover_* registration in the source', () => {
    expect(scanned.unparsed).toEqual([]);
    expect(scanned.metrics.length).toBeGreaterThanOrEqual(18);
    const duplicates = names(scanned.metrics).filter((n, i, all) => all[i - 1] === n);
    expect(duplicates).toEqual([]);
  });

  it('reads the relay metrics from the source exactly as the real registry has them', () => {
    const relay = fromRegistry.filter((m) => m.name.startsWith('drover_'));
    expect(names(relay)).toEqual(
      names(scanned.metrics.filter((m) => m.from === 'libs/service-kit/src/relay-metrics.ts')),
    );
    for (const metric of relay) {
      const read = scanned.metrics.find((m) => m.name === metric.name);
      expect([metric.name, read?.type, read?.labels]).toEqual([
        metric.name,
        metric.type,
        metric.labels,
      ]);
    }
  });

  it('has the Node.js process metrics of a real registry', () => {
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_eventloop_lag_p99_seconds',
    ]) {
      expect([name, known.has(name)]).toEqual([name, true]);
    }
  });

  it('finds what is wrong in a query (the check is real)', () => {
    const problems = (expr: string) => checkQuery(expr, known).problems;
    expect(problems('sum by (provider) (drover_ready_tasks)')).toEqual([]);
    expect(problems('sum(drover_no_such_metric)')).toEqual([
      'no service exposes drover_no_such_metric',
    ]);
    expect(problems('drover_ready_tasks{runner="r1"}')).toEqual([
      'drover_ready_tasks has no label runner',
    ]);
    expect(problems('sum by (runner) (drover_ready_tasks)')).toEqual([
      'grouping on runner, which none of drover_ready_tasks carries',
    ]);
    expect(problems('rate(drover_task_transitions_total[5 minutes])')).toEqual([
      'not a range or subquery: [5 minutes]',
    ]);
    expect(problems('sumx(drover_ready_tasks)')).toEqual(['unknown function sumx']);
    expect(problems('sum(drover_ready_tasks')).toEqual(['unbalanced parentheses']);
    expect(
      problems(
        'histogram_quantile(0.9, sum by (provider) (rate(drover_dispatch_latency_seconds_bucket[5m])))',
      ),
    ).toEqual(['histogram_quantile not grouped by le']);
    expect(problems('drover_dispatch_latency_seconds')).toEqual([
      'no service exposes drover_dispatch_latency_seconds',
    ]);
  });
});

describe('deploy/monitoring/grafana-dashboard.json', () => {
  it('is a Grafana dashboard with a Prometheus data source variable', () => {
    expect(dashboard.title).toBe('Drover');
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }),
    );
  });

  it('gives every panel a unique id and a place on the 24-column grid, none overlapping', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { id, gridPos: g } of dashboard.panels) {
      expect([id, Number.isInteger(id) && id > 0]).toEqual([id, true]);
      expect([id, g.x >= 0 && g.w > 0 && g.x + g.w <= 24 && g.y >= 0 && g.h > 0]).toEqual([
        id,
        true,
      ]);
    }
    const overlaps = dashboard.panels.flatMap((a, i) =>
      dashboard.panels
        .slice(i + 1)
        .filter(
          (b) =>
            a.gridPos.x < b.gridPos.x + b.gridPos.w &&
            b.gridPos.x < a.gridPos.x + a.gridPos.w &&
            a.gridPos.y < b.gridPos.y + b.gridPos.h &&
            b.gridPos.y < a.gridPos.y + a.gridPos.h,
        )
        .map((b) => `${a.id}/${b.id}`),
    );
    expect(overlaps).toEqual([]);
  });

  it('gives every panel but rows Prometheus targets with unique refIds on the data source variable', () => {
    expect(queryPanels.length).toBeGreaterThan(20);
    for (const panel of queryPanels) {
      expect([panel.title, ['timeseries', 'stat'].includes(panel.type)]).toEqual([
        panel.title,
        true,
      ]);
      const refIds = (panel.targets ?? []).map((t) => t.refId);
      expect([panel.title, refIds.length > 0, new Set(refIds).size]).toEqual([
        panel.title,
        true,
        refIds.length,
      ]);
      for (const source of [panel.datasource, ...(panel.targets ?? []).map((t) => t.datasource)]) {
        expect(source).toEqual({ type: 'prometheus', uid: '${datasource}' });
      }
    }
    for (const row of dashboard.panels.filter((p) => p.type === 'row')) {
      expect(row.targets).toBeUndefined();
    }
  });

  it('queries only metrics the services register, with their labels', () => {
    const problems = targets.flatMap(({ panel, refId, expr }) =>
      checkQuery(expr, known).problems.map((p) => `${panel.title} ${refId}: ${p}`),
    );
    expect(problems).toEqual([]);
  });

  it('names in legends only labels its query keeps', () => {
    const problems = targets.flatMap(({ panel, refId, expr, legendFormat }) => {
      const { grouping } = checkQuery(expr, known);
      return [...(legendFormat ?? '').matchAll(/\{\{\s*(\w+)\s*\}\}/g)]
        .map((m) => m[1])
        .filter((label) => !grouping.includes(label))
        .map((label) => `${panel.title} ${refId}: {{${label}}} is not grouped on`);
    });
    expect(problems).toEqual([]);
  });

  it('shows every figure the operators asked for', () => {
    const used = new Set(targets.flatMap(({ expr }) => checkQuery(expr, known).series));
    for (const series of [
      'drover_ready_tasks',
      'drover_task_transitions_total',
      'drover_dispatch_latency_seconds_bucket',
      'drover_start_latency_seconds_bucket',
      'drover_run_duration_seconds_bucket',
      'drover_rate_limited_runs_total',
      'drover_runner_slots',
      'drover_runner_heartbeat_age_seconds',
      'drover_runner_runs_in_progress',
      'drover_outbox_backlog',
      'drover_outbox_relay_lag_seconds_bucket',
      'drover_log_lines_ingested_total',
      'drover_websocket_clients',
      'drover_websocket_slow_clients_dropped_total',
      'drover_http_requests_total',
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
    ]) {
      expect([series, used.has(series)]).toEqual([series, true]);
    }
  });
});

describe('deploy/monitoring/alerts.yaml', () => {
  it('is a rule file of named groups, each with rules', () => {
    expect(Object.keys(rules)).toEqual(['groups']);
    expect(rules.groups.length).toBeGreaterThan(0);
    const groupNames = rules.groups.map((g) => g.name);
    expect(new Set(groupNames).size).toBe(groupNames.length);
    for (const group of rules.groups) {
      expect(Object.keys(group).filter((k) => !['name', 'interval', 'rules'].includes(k))).toEqual(
        [],
      );
      expect(group.rules.length).toBeGreaterThan(0);
    }
  });

  it('has the alerts operators need, each with for, severity, summary and description', () => {
    const alertNames = alerts.map((r) => r.alert);
    expect(new Set(alertNames).size).toBe(alertNames.length);
    expect(alertNames).toEqual(
      expect.arrayContaining([
        'DroverBacklogGrowing',
        'DroverNoRunnerOnline',
        'DroverDispatchLatencyHigh',
        'DroverOutboxLagHigh',
        'DroverRunnerStale',
      ]),
    );
    for (const rule of alerts) {
      const extra = Object.keys(rule).filter(
        (k) => !['alert', 'expr', 'for', 'keep_firing_for', 'labels', 'annotations'].includes(k),
      );
      expect([rule.alert, extra]).toEqual([rule.alert, []]);
      expect(rule.alert).toMatch(/^Drover[A-Z][A-Za-z0-9]+$/);
      expect([rule.alert, rule.for]).toEqual([rule.alert, expect.stringMatching(/^\d+[smh]$/)]);
      expect([rule.alert, rule.labels?.severity]).toEqual([
        rule.alert,
        expect.stringMatching(/^(critical|warning|info)$/),
      ]);
      expect(rule.annotations?.summary?.trim()).toBeTruthy();
      expect(rule.annotations?.description?.trim()).toBeTruthy();
    }
  });

  it('queries only metrics the services register, with their labels', () => {
    const problems = alerts.flatMap((rule) =>
      checkQuery(rule.expr, known).problems.map((p) => `${rule.alert}: ${p}`),
    );
    expect(problems).toEqual([]);
  });

  it('names in annotations only labels its alert keeps', () => {
    const problems = alerts.flatMap((rule) => {
      const { grouping } = checkQuery(rule.expr, known);
      const text = Object.values(rule.annotations ?? {}).join('\n');
      return [...text.matchAll(/\$labels\.(\w+)/g)]
        .map((m) => m[1])
        .filter((label) => !grouping.includes(label) && !TARGET_LABELS.has(label))
        .map((label) => `${rule.alert}: $labels.${label} is not grouped on`);
    });
    expect(problems).toEqual([]);
  });

  it('has a promtool unit test that makes each alert fire', () => {
    const tests = parse(readFileSync(join(MONITORING, 'alerts.test.yaml'), 'utf8')) as {
      rule_files: string[];
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    expect(tests.rule_files).toEqual(['alerts.yaml']);
    const fired = new Set(
      tests.tests.flatMap((t) =>
        (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
      ),
    );
    expect(alerts.map((r) => r.alert).filter((name) => !fired.has(name!))).toEqual([]);
  });
});
