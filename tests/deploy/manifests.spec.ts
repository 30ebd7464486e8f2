import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Namespace, Secret, Service } from 'kubernetes-models/v1';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import {
  GatewayConfigSchema,
  HealthConfigSchema,
  loadConfig,
  loadSchedulerConfig,
  OrchestratorConfigSchema,
  RunnerConfigSchema,
  SchedulerConfigSchema,
  TelemetryConfigSchema,
} from '@drover/config';

const ROOT = join(__dirname, '../..');
const K8S = join(ROOT, 'deploy/k8s');

interface Validatable {
  validate(): void;
}
type Model = new (data: never) => Validatable;

const MODELS: Record<string, Model> = {
  'v1/Namespace': Namespace,
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'batch/v1/Job': Job,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
};

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string };
  spec?: unknown;
  data?: Record<string, string>;
}

function loadYaml(file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8'), { merge: true }).map((doc) => {
    if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0].message}`);
    return doc.toJS() as unknown;
  });
}

const objects = readdirSync(K8S)
  .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
  .flatMap((file) => loadYaml(join(K8S, file)).map((obj) => ({ file, obj: obj as K8sObject })));

/** Every variable any service reads, plus the process's own (home and temp directories). */
const knownVars = new Set(
  [
    z.object({ HOME: z.string(), TMPDIR: z.string(), NODE_ENV: z.string() }),
    GatewayConfigSchema,
    OrchestratorConfigSchema,
    SchedulerConfigSchema,
    RunnerConfigSchema,
    HealthConfigSchema,
    TelemetryConfigSchema,
  ].flatMap((schema) => Object.keys(schema.shape)),
);

function envNames(value: unknown): string[] {
  if (Array.isArray(value)) return value.flatMap(envNames);
  if (!value || typeof value !== 'object') return [];
  const record = value as Record<string, unknown>;
  const own = Array.isArray(record.env)
    ? (record.env as { name: string }[]).map((e) => e.name)
    : [];
  return [...own, ...Object.values(record).flatMap(envNames)];
}

describe('deploy/k8s manifests', () => {
  it('finds the control plane, the runner fleet and the migration job', () => {
    const names = objects.map(({ obj }) => `${obj.kind}/${obj.metadata?.name ?? ''}`);
    expect(names).toEqual(
      expect.arrayContaining([
        'Deployment/gateway',
        'Deployment/orchestrator',
        'Deployment/scheduler',
        'Deployment/health-monitor',
        'Deployment/agent-runner',
        'Job/drover-migrate',
      ]),
    );
  });

  it.each(objects.map(({ file, obj }) => [`${file}: ${obj.kind}/${obj.metadata?.name}`, obj]))(
    'validates %s against the Kubernetes schema',
    (_name, obj) => {
      const model = MODELS[`${obj.apiVersion}/${obj.kind}`];
      expect(model).toBeDefined();
      expect(() => new model(obj as never).validate()).not.toThrow();
    },
  );

  it('rejects an object that breaks the schema (the validation is real)', () => {
    const gateway = objects.find(({ obj }) => obj.metadata?.name === 'gateway')?.obj as K8sObject;
    const broken = { ...gateway, spec: { ...(gateway.spec as object), replicas: 'two' } };
    expect(() => new Deployment(broken as never).validate()).toThrow(/replicas/);
  });

  it('lists only files that exist in the kustomization', () => {
    const [kustomization] = loadYaml(join(K8S, 'kustomization.yaml')) as { resources: string[] }[];
    const files = readdirSync(K8S);
    expect(kustomization.resources.filter((r) => !files.includes(r))).toEqual([]);
  });

  it('sets only environment variables that a service reads', () => {
    const configMaps = objects.filter(({ obj }) => obj.kind === 'ConfigMap');
    const names = [
      ...objects.flatMap(({ obj }) => envNames(obj.spec)),
      ...configMaps.flatMap(({ obj }) => Object.keys(obj.data ?? {})),
    ];
    expect(names.length).toBeGreaterThan(0);
    expect([...new Set(names)].filter((n) => !knownVars.has(n))).toEqual([]);
  });
});

interface Container {
  name: string;
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { containers: Container[] };
}

/**
 * Where each service listens, read by the service's own config parser from what
 * its pod is given (the ConfigMaps it loads, then its own env values).
 */
const LISTENS: Record<string, (env: Record<string, string>) => { port: number; host: string }> = {
  gateway: (env) => {
    const c = loadConfig(GatewayConfigSchema, env);
    return { port: c.GATEWAY_PORT, host: c.GATEWAY_HOST };
  },
  orchestrator: (env) => {
    const c = loadConfig(OrchestratorConfigSchema, env);
    return { port: c.ORCHESTRATOR_METRICS_PORT, host: c.METRICS_HOST };
  },
  scheduler: (env) => {
    const c = loadSchedulerConfig(env, []);
    return { port: c.SCHEDULER_METRICS_PORT, host: c.METRICS_HOST };
  },
  'health-monitor': (env) => {
    const c = loadConfig(HealthConfigSchema, env);
    return { port: c.HEALTH_METRICS_PORT, host: c.METRICS_HOST };
  },
  'agent-runner': (env) => {
    const c = loadConfig(RunnerConfigSchema, env);
    return { port: c.RUNNER_METRICS_PORT, host: c.METRICS_HOST };
  },
};

function podEnv(container: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    const name = from.configMapRef?.name;
    if (!name) continue;
    const map = objects.find(({ obj }) => obj.kind === 'ConfigMap' && obj.metadata?.name === name);
    if (!map) throw new Error(`container ${container.name} loads a missing ConfigMap ${name}`);
    Object.assign(env, map.obj.data);
  }
  for (const { name, value } of container.env ?? []) if (value !== undefined) env[name] = value;
  return env;
}

describe('deploy/k8s metrics scraping', () => {
  const deployments = objects
    .filter(({ obj }) => obj.kind === 'Deployment')
    .map(({ obj }) => ({
      name: obj.metadata?.name ?? '',
      template: (obj.spec as { template: PodTemplate }).template,
    }));

  it('covers every service', () => {
    expect(deployments.map((d) => d.name).sort()).toEqual(Object.keys(LISTENS).sort());
  });

  it.each(deployments.map((d) => [d.name, d] as const))(
    '%s: its scrape annotations name a declared containerPort, the one its config listens on',
    (name, { template }) => {
      const annotations = template.metadata?.annotations ?? {};
      expect(annotations['prometheus.io/scrape']).toBe('true');
      expect(annotations['prometheus.io/path']).toBe('/metrics');
      const port = Number(annotations['prometheus.io/port']);
      const [container] = template.spec.containers;
      const declared = (container.ports ?? []).find((p) => p.containerPort === port);
      expect(declared).toBeDefined();
      // The gateway serves /metrics on its API port; the others on a port of their own.
      expect(declared?.name).toBe(name === 'gateway' ? 'http' : 'metrics');
      const listens = LISTENS[name](podEnv(container));
      expect(listens).toEqual({ port, host: '0.0.0.0' });
    },
  );

  it('exposes each metrics port through a Service that selects its pods', () => {
    const services = objects.filter(({ obj }) => obj.kind === 'Service').map(({ obj }) => obj);
    for (const { name, template } of deployments.filter((d) => d.name !== 'gateway')) {
      const service = services.find(
        (s) =>
          (s.spec as { selector?: Record<string, string> }).selector?.['app.kubernetes.io/name'] ===
          name,
      );
      const port = (
        service?.spec as { ports?: { name: string; port: number; targetPort: string }[] }
      )?.ports?.find((p) => p.name === 'metrics');
      const declared = template.spec.containers[0].ports?.find((p) => p.name === 'metrics');
      expect([name, port?.targetPort, port?.port]).toEqual([
        name,
        'metrics',
        declared?.containerPort,
      ]);
      expect(template.metadata?.labels?.['app.kubernetes.io/name']).toBe(name);
    }
  });
});

describe('docker-compose.yml', () => {
  const [compose] = loadYaml(join(ROOT, 'docker-compose.yml')) as {
    services: Record<string, { profiles?: string[]; environment?: Record<string, string> }>;
  }[];

  it('runs Postgres, Redis, NATS without a profile and the five services with one', () => {
    for (const infra of ['postgres', 'redis', 'nats']) {
      expect(compose.services[infra]?.profiles).toBeUndefined();
    }
    for (const app of ['gateway', 'orchestrator', 'scheduler', 'agent-runner', 'health-monitor']) {
      expect(compose.services[app]?.profiles).toEqual(['services']);
    }
  });

  it('sets only environment variables that a service reads', () => {
    const names = Object.values(compose.services).flatMap((s) => Object.keys(s.environment ?? {}));
    const ours = names.filter((n) => !n.startsWith('POSTGRES_'));
    expect([...new Set(ours)].filter((n) => !knownVars.has(n))).toEqual([]);
  });
});
