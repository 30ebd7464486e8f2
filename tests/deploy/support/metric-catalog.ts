import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { outboxBacklogGauge, relayMetrics, ServiceMetrics } from '@drover/service-kit';

const TYPES = ['counter', 'gauge', 'histogram', 'summary'] as const;
export type MetricType = (typeof TYPES)[number];

/** A metric a Drover service registers: its name, type and label names. */
export interface MetricDef {
  name: string;
  type: MetricType;
  labels: string[];
  /** Where it was found: `registry` (instantiated) or the source file that registers it. */
  from: string;
}

/**
 * The metrics of a real registry: a service's default Node.js process metrics
 * and the ones every relaying service adds (`relayMetrics`, `outboxBacklogGauge`).
 * Registering them touches no database: their queries run only on a scrape.
 */
export function registryMetrics(): MetricDef[] {
  const metrics = new ServiceMetrics('catalog');
  relayMetrics(metrics, null as never);
  outboxBacklogGauge(metrics, null as never);
  return metrics.registry.getMetricsAsArray().map((metric) => {
    // prom-client's typings say an enum; at run time the type is its name.
    const type = String(metric.type);
    if (!TYPES.includes(type as MetricType)) throw new Error(`${metric.name}: type ${type}?`);
    return {
      name: metric.name,
      type: type as MetricType,
      labels: [...((metric as { labelNames?: readonly string[] }).labelNames ?? [])],
      from: 'registry',
    };
  });
}

/**
 * One registration in the source: a `counter(`, `gauge(`, `histogram(` or
 * `gaugeFromQuery(` call whose config names a `drover_*` metric, and the
 * `labelNames` of that same object literal.
 */
const REGISTRATION =
  /\b(counter|gauge|histogram|gaugeFromQuery)(?:<[^>]*>)?\(\s*(?:metrics,\s*)?\{\s*name:\s*'(drover_[a-z0-9_]+)',\s*help:\s*(?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"),\s*(?:labelNames:\s*\[([^\]]*)\])?/g;

/** Every `name: 'drover_...'` in the source, registered or not (the scan must see them all). */
const ANY_NAME = /\bname:\s*'(drover_[a-z0-9_]+)'/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      return entry.name === 'node_modules' || entry.name === 'generated' ? [] : sourceFiles(path);
    }
    return /(?<!\.spec|\.int-spec|\.e2e-spec)\.ts$/.test(entry.name) ? [path] : [];
  });
}

/**
 * The `drover_*` metrics registered anywhere in apps/ and libs/, read from the
 * source (most are registered by Nest providers that need Postgres or a
 * WebSocket server to construct). `unparsed` lists metric names the scan saw
 * but could not read a registration for: it must be empty.
 */
export function sourceMetrics(root: string): { metrics: MetricDef[]; unparsed: string[] } {
  const metrics: MetricDef[] = [];
  const unparsed: string[] = [];
  for (const file of ['apps', 'libs'].flatMap((dir) => sourceFiles(join(root, dir)))) {
    const text = readFileSync(file, 'utf8');
    const found = new Set<string>();
    for (const [, call, name, labels] of text.matchAll(REGISTRATION)) {
      found.add(name);
      metrics.push({
        name,
        type: call === 'gaugeFromQuery' ? 'gauge' : (call as MetricType),
        labels: [...(labels ?? '').matchAll(/'([a-zA-Z_][a-zA-Z0-9_]*)'/g)].map((m) => m[1]),
        from: relative(root, file),
      });
    }
    for (const [, name] of text.matchAll(ANY_NAME)) {
      if (!found.has(name)) unparsed.push(`${relative(root, file)}: ${name}`);
    }
  }
  return { metrics, unparsed };
}

/** A series name a query may select, and the labels its samples carry. */
export interface SeriesDef {
  metric: MetricDef;
  labels: Set<string>;
}

/**
 * Every series name the metrics expose, with their labels: a histogram `h` is
 * `h_bucket` (with `le`), `h_sum` and `h_count`; every sample also carries the
 * registry's default label `service`.
 */
export function seriesOf(metrics: readonly MetricDef[]): Map<string, SeriesDef> {
  const series = new Map<string, SeriesDef>();
  for (const metric of metrics) {
    const labels = [...metric.labels, 'service'];
    const add = (name: string, extra: string[] = []) =>
      series.set(name, { metric, labels: new Set([...labels, ...extra]) });
    if (metric.type === 'histogram') {
      add(`${metric.name}_bucket`, ['le']);
      add(`${metric.name}_sum`);
      add(`${metric.name}_count`);
    } else if (metric.type === 'summary') {
      add(metric.name, ['quantile']);
      add(`${metric.name}_sum`);
      add(`${metric.name}_count`);
    } else {
      add(metric.name);
    }
  }
  return series;
}
