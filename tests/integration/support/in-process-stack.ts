import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  GatewayConfigSchema,
  HealthConfigSchema,
  loadConfig,
  loadSchedulerConfig,
  OrchestratorConfigSchema,
  RunnerConfigSchema,
} from '@drover/config';
import { createTestEnv, type TestEnv } from '@drover/testing';
import { ApiKeys, DEFAULT_PROJECT } from '@drover/workflow';
import { AgentRunnerModule } from '@drover/app-agent-runner';
import { createGateway } from '@drover/app-gateway';
import { HealthMonitorModule } from '@drover/app-health-monitor';
import { OrchestratorModule } from '@drover/app-orchestrator';
import { SchedulerModule } from '@drover/app-scheduler';

export interface InProcessStack {
  env: TestEnv;
  baseUrl: string;
  /** An admin key of the default project. */
  apiKey: string;
  /** `{ authorization: 'Bearer <apiKey>' }`, to spread into a request's headers. */
  auth: { authorization: string };
  /** A request to the gateway as `key`, with `body` (if any) as JSON; its status and JSON body. */
  request(
    key: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }>;
  /** The id of the runner the stack starts (in the shared pool; see `StackOptions.runner`). */
  runnerId: string;
  /**
   * Starts one more runner, configured like the first but for `extra` (which
   * names at least its `RUNNER_ID`). It stops with the stack, or earlier with its
   * own `stop`. (A runner that fails to start cannot be closed in-process: test
   * refusals on built processes, in the e2e tests.)
   */
  startRunner(extra: Readonly<Record<string, string>> & { RUNNER_ID: string }): Promise<{
    stop(): Promise<void>;
  }>;
  /** Stops one of the services the stack started (the others keep running). */
  stopService(service: 'orchestrator' | 'scheduler' | 'health-monitor'): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  /** False: no runner starts with the stack (`startRunner` starts one later). Default true. */
  runner?: boolean;
}

/**
 * All five services in this process (one Nest app each, as in production, but
 * sharing a process so a test can read their spans from one exporter).
 */
export async function startInProcessStack(
  extra: Readonly<Record<string, string>> = {},
  options: StackOptions = {},
): Promise<InProcessStack> {
  const env = await createTestEnv();
  const scratch = join(tmpdir(), 'drover-in-process', env.subjectPrefix);
  const vars = {
    ...env.env,
    LOG_LEVEL: 'warn',
    RUNNER_HEARTBEAT_MS: '1000',
    RUNNER_ID: `in-process-${env.subjectPrefix}`,
    // These tests follow requests across the services; their commands need no container.
    RUNNER_SANDBOX: 'process',
    RUNNER_WORKDIR: join(scratch, 'runs'),
    DROVER_ARTIFACTS: pathToFileURL(join(scratch, 'artifacts')).href,
    HEALTH_CHECK_INTERVAL_MS: '200',
    GATEWAY_PORT: '0',
    GATEWAY_RATE_LIMIT: '0',
    ...extra,
  };
  const logger = ['error', 'warn'] as const;
  const apps: INestApplicationContext[] = [];
  const named = new Map<string, INestApplicationContext>();
  const context = async (module: Parameters<typeof NestFactory.createApplicationContext>[0]) => {
    const app = await NestFactory.createApplicationContext(module, { logger: [...logger] });
    await app.init();
    apps.push(app);
    return app;
  };
  const closeApp = async (app: INestApplicationContext) => {
    const at = apps.indexOf(app);
    if (at < 0) return;
    apps.splice(at, 1);
    await app.close();
  };
  named.set(
    'orchestrator',
    await context(OrchestratorModule.register(loadConfig(OrchestratorConfigSchema, vars))),
  );
  named.set('scheduler', await context(SchedulerModule.register(loadSchedulerConfig(vars, []))));
  named.set(
    'health-monitor',
    await context(HealthMonitorModule.register(loadConfig(HealthConfigSchema, vars))),
  );
  if (options.runner ?? true) {
    await context(AgentRunnerModule.register(loadConfig(RunnerConfigSchema, vars)));
  }
  const gateway = await createGateway(loadConfig(GatewayConfigSchema, vars));
  gateway.useLogger([...logger]);
  await gateway.listen(0, '127.0.0.1');
  apps.push(gateway);
  const address = gateway.getHttpServer().address() as { port: number };
  const { key: apiKey } = await new ApiKeys(env.prisma).issue({
    projectId: DEFAULT_PROJECT.id,
    name: 'in-process',
    role: 'admin',
  });
  const baseUrl = `http://127.0.0.1:${address.port}`;
  return {
    env,
    apiKey,
    auth: { authorization: `Bearer ${apiKey}` },
    baseUrl,
    async request(key, method, path, body) {
      const res = await fetch(`${baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${key}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: await res.json() };
    },
    runnerId: vars.RUNNER_ID,
    async startRunner(more) {
      const config = loadConfig(RunnerConfigSchema, {
        ...vars,
        RUNNER_WORKDIR: join(scratch, 'runs', more.RUNNER_ID),
        ...more,
      });
      const app = await NestFactory.createApplicationContext(AgentRunnerModule.register(config), {
        logger: [...logger],
      });
      apps.push(app);
      return { stop: () => closeApp(app) };
    },
    async stopService(service) {
      const app = named.get(service);
      if (app) await closeApp(app);
    },
    async stop() {
      // Runner first so it releases work while the control plane still listens.
      for (const app of [...apps].reverse()) await app.close();
      await env.destroy();
      await rm(scratch, { recursive: true, force: true });
    },
  };
}
