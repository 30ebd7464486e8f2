import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from 'prom-client';

/** Seconds buckets for waits and runs: 50 ms to 2 hours. */
export const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 7200];

/**
 * One service's Prometheus registry: the default Node.js process metrics and
 * the service's own `drover_*` metrics, all labelled `{ service }`. One per Nest
 * app, never prom-client's global registry, so that several services (the
 * in-process test stack, several runners) can share a process.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  private server?: Server;

  constructor(readonly service: string) {
    this.registry.setDefaultLabels({ service });
    collectDefaultMetrics({ register: this.registry });
  }

  counter<L extends string>(config: Omit<CounterConfiguration<L>, 'registers'>): Counter<L> {
    return new Counter({ ...config, registers: [this.registry] });
  }

  gauge<L extends string>(config: Omit<GaugeConfiguration<L>, 'registers'>): Gauge<L> {
    return new Gauge({ ...config, registers: [this.registry] });
  }

  histogram<L extends string>(config: Omit<HistogramConfiguration<L>, 'registers'>): Histogram<L> {
    return new Histogram({ buckets: LATENCY_BUCKETS, ...config, registers: [this.registry] });
  }

  /** The exposition text and its content type, as a scrape gets them. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /**
   * Serves `GET /metrics` on its own port (services without an HTTP API); the
   * port it listens on (`port` 0 here picks a free one: callers treat a
   * configured 0 as "off" and do not call this).
   */
  async listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || req.url?.split('?')[0] !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      this.scrape().then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
        (error: Error) => res.writeHead(500).end(error.message),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * A value computed on scrape, kept for `ttlMs` so frequent scrapes (or several
 * Prometheus servers) cost one query per window.
 */
export function cachedOnScrape<T>(ttlMs: number, load: () => Promise<T>): () => Promise<T> {
  let cached: { at: number; value: Promise<T> } | undefined;
  return () => {
    const now = Date.now();
    if (!cached || now - cached.at > ttlMs) {
      const value = load();
      cached = { at: now, value };
      // A failed load is not kept: the next scrape tries again.
      value.catch(() => (cached = undefined));
    }
    return cached.value;
  };
}

/** One sample of a gauge read from the database. */
export interface GaugeSample<L extends string> {
  labels: Record<L, string>;
  value: number;
}

/**
 * A gauge whose samples are read (by `load`, e.g. a GROUP BY) when Prometheus
 * scrapes, at most once per `ttlMs`. Label sets absent from the latest read are
 * dropped, so a status no task has any more reads as gone, not as its last count.
 */
export function gaugeFromQuery<L extends string>(
  metrics: ServiceMetrics,
  config: { name: string; help: string; labelNames: readonly L[]; ttlMs?: number },
  load: () => Promise<GaugeSample<L>[]>,
): Gauge<L> {
  const samples = cachedOnScrape(config.ttlMs ?? 5_000, load);
  return metrics.gauge({
    name: config.name,
    help: config.help,
    labelNames: config.labelNames,
    async collect() {
      const read = await samples();
      this.reset();
      for (const { labels, value } of read) this.set(labels as Partial<Record<L, string>>, value);
    },
  });
}
