import { createHash, createHmac, hkdfSync, randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  durationSeconds,
  mapSpecEnv,
  providerForAgent,
  type ErrorBody,
  type OnFailure,
  type TaskInput,
  sealSecret,
  type CreateTicketReply,
  type EnvValue,
  type StoredEnvValue,
  type SubmitTicket,
  type TaskPolicy,
  TaskSpec,
  taskNetwork,
  type TaskStatus,
} from '@drover/contracts';
import type { PrismaClient, Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { currentTraceparent } from '@drover/telemetry';
import { describeGraphErrors, validateGraph } from '../graph';
import { activate, type GatedTask } from '../pipeline/activation';
import { hasTemplates } from '../pipeline/expressions';
import { checkPipelineReferences } from '../pipeline/references';
import { closeTasks, settleDependents } from '../task-ending';
import { Effects, type TimerPort } from './report-use-case';
import { taskChanged, ticketChanged } from '../outbox-messages';
import { resolvePolicy, type PolicyDefaults } from '../retry-policy';
import {
  checkHourlyQuota,
  hourlyLimit,
  NO_SUBMISSION_QUOTA,
  tooLargeForQuota,
  type ProjectQuota,
  type QuotaRefusal,
  type SubmissionQuota,
} from '../submission-quota';
import { resourcesAboveCeilings, tighterCeilings } from '../resource-ceilings';

interface NewTask {
  id: string;
  ticketId: string;
  projectId: string;
  key: string;
  position: number;
  title: string | null;
  status: TaskStatus;
  readyAt: Date | null;
  priority: number;
  agent: string;
  provider: string;
  spec: TaskSpec;
  policy: TaskPolicy;
  phase: string | null;
  whenExpr: string | null;
  onFailure: OnFailure;
  templated: boolean;
  requiresApproval: boolean;
  approvalTimeoutMs: number | null;
}

/**
 * More rows written in the ticket's transaction (an experiment and its trials),
 * given the ticket and its tasks' ids by key; throwing rolls the ticket back.
 */
export type AlongsideWrite = (
  tx: Tx,
  ticket: { id: string; projectId: string },
  taskIds: ReadonlyMap<string, string>,
) => Promise<void>;

interface Edge {
  taskId: string;
  dependsOnId: string;
}

/**
 * Writes a ticket, its tasks and dependency edges in one transaction. Tasks
 * without dependencies start READY. The graph is checked again here: the
 * orchestrator trusts no caller, not even the gateway.
 */
export class CreateTicket {
  private readonly logger = new Logger(CreateTicket.name);
  private readonly hashKey: Buffer | undefined;

  constructor(
    private readonly prisma: PrismaClient,
    private readonly defaults: PolicyDefaults,
    private readonly quota: SubmissionQuota = NO_SUBMISSION_QUOTA,
    /** DROVER_SECRETS_KEY; without it, tickets with secret env values are refused. */
    private readonly secretsKey?: Uint8Array,
    /** Where approval timeouts of gated first tasks are set; without it, the reconciler sets them. */
    private readonly timers?: TimerPort,
  ) {
    this.hashKey = secretsKey
      ? Buffer.from(hkdfSync('sha256', secretsKey, '', 'drover request hash v1', 32))
      : undefined;
  }

  /**
   * `requestId` identifies the request (an Idempotency-Key, else the message's
   * id): the same request again, a retry after a lost answer or a redelivered
   * message, returns the ticket it wrote the first time, and writes nothing.
   */
  async execute(
    input: SubmitTicket,
    correlationId?: string,
    requestId?: string,
    alongside?: AlongsideWrite,
  ): Promise<CreateTicketReply> {
    const secrets = secretPaths(input);
    if (secrets.length && !this.secretsKey) return secretsUnavailable(secrets);
    const requestHash = this.requestHash(input, secrets.length > 0);
    if (requestId) {
      const earlier = await this.earlier(requestId, requestHash);
      if (earlier) return earlier;
    }
    const problem = ticketProblem(input.tasks);
    if (problem) return { ok: false, status: 422, error: problem };
    const project = await this.prisma.project.findUnique({ where: { slug: input.project } });
    if (!project) {
      return {
        ok: false,
        status: 422,
        error: {
          code: 'UNKNOWN_PROJECT',
          message: `project "${input.project}" does not exist`,
          details: [{ path: 'project', message: 'no project has this slug' }],
        },
      };
    }
    const quota: ProjectQuota = {
      id: project.id,
      slug: project.slug,
      limit: hourlyLimit(project.maxTasksPerHour, this.quota.maxTasksPerHour),
    };
    const tooLarge = tooLargeForQuota(quota, input.tasks.length);
    if (tooLarge) return tooLarge;
    const ceilings = tighterCeilings(this.quota.maxResources, project.maxResources);
    const tooMuch = resourcesAboveCeilings(input.tasks, ceilings);
    if (tooMuch) return tooMuch;

    const ticketId = randomUUID();
    const now = new Date();
    const ids = new Map(input.tasks.map((t) => [t.key, randomUUID()]));
    const inherits = workspaceSources(input);
    const kept = new Set(inherits.values());
    const tasks: NewTask[] = input.tasks.map((t, position) => {
      const from = inherits.get(t.key);
      // A task starting from another's workspace is completed when released, like templates.
      const templated = usesTemplates(t) || from !== undefined;
      const gated = t.when !== undefined || templated || t.requires_approval === true;
      // Gated roots are activated once written (their condition, their approval gate).
      const ready = t.depends_on.length === 0 && !gated;
      // Only the fields a runner needs: TaskSpec keeps them and drops the rest.
      const spec = TaskSpec.parse({
        ...this.sealed(t),
        // Stored resolved, so that what a runner applies is what the task shows.
        network: taskNetwork(t.agent, t.network),
        ...(from ? { workspace_from: from } : {}),
        ...(kept.has(t.key) ? { keep_workspace: true } : {}),
      });
      return {
        id: ids.get(t.key) as string,
        ticketId,
        projectId: project.id,
        key: t.key,
        position,
        title: t.title ?? null,
        status: ready ? 'READY' : 'PENDING',
        readyAt: ready ? now : null,
        priority: t.priority ?? input.priority,
        agent: t.agent,
        provider: providerForAgent(t.agent),
        spec,
        policy: resolvePolicy(t, this.defaults),
        phase: t.phase ?? null,
        whenExpr: t.when ?? null,
        onFailure: t.on_failure ?? 'stop',
        templated,
        requiresApproval: t.requires_approval === true,
        approvalTimeoutMs:
          t.approval_timeout === undefined ? null : durationSeconds(t.approval_timeout) * 1000,
      };
    });
    const gatedRoots = input.tasks
      .map((t, i) => ({ input: t, task: tasks[i] }))
      .filter(({ input: t, task }) => t.depends_on.length === 0 && task.status === 'PENDING')
      .map(({ task }) => task.id);
    const edges: Edge[] = input.tasks.flatMap((t) =>
      [...new Set(t.depends_on)].map((dep) => ({
        taskId: ids.get(t.key) as string,
        dependsOnId: ids.get(dep) as string,
      })),
    );
    const events: OutboxMessage[] = [
      ticketChanged(ticketId, 'PENDING', null),
      ...tasks.map((t) => taskChanged({ id: t.id, ticketId, key: t.key }, t.status, null)),
    ];

    try {
      const refused = await this.write({
        ticket: {
          id: ticketId,
          projectId: project.id,
          title: input.title,
          priority: input.priority,
          description: input.description ?? null,
          labels: input.labels ?? [],
          budgetUsd: input.budget_usd ?? null,
        },
        tasks,
        gatedRoots,
        edges,
        events,
        correlationId,
        requestId,
        requestHash,
        quota,
        alongside,
      });
      if (refused) {
        this.logger.log(`ticket refused, project ${project.id}: ${refused.error.message}`);
        // The same request, racing this one, may be what filled the quota.
        const earlier = requestId ? await this.earlier(requestId, requestHash) : undefined;
        return earlier ?? refused;
      }
    } catch (error) {
      // The same request, racing this one, wrote its ticket first.
      const earlier = requestId ? await this.earlier(requestId, requestHash) : undefined;
      if (earlier) return earlier;
      throw error;
    }
    this.logger.log(`ticket ${ticketId} created with ${tasks.length} tasks`);
    return { ok: true, ticketId, taskCount: tasks.length };
  }

  /**
   * What identifies the body for idempotency. A body with secrets is hashed with
   * a key of its own (derived from the secrets key): a plain hash kept beside the
   * ticket would let whoever reads the table confirm a guess of a secret.
   */
  private requestHash(input: SubmitTicket, hasSecrets: boolean): string {
    const body = JSON.stringify(input);
    return hasSecrets && this.hashKey
      ? createHmac('sha256', this.hashKey).update(body).digest('hex')
      : createHash('sha256').update(body).digest('hex');
  }

  /** The task with each `{secret}` replaced by its `{sealed}` form: no plaintext is stored. */
  private sealed(task: SubmitTicket['tasks'][number]) {
    const key = this.secretsKey;
    return mapSpecEnv(task, (value: EnvValue): StoredEnvValue => {
      if (typeof value === 'string') return value;
      // Unreachable: execute() refuses secrets when there is no key.
      if (!key) throw new Error('a secret reached sealing without a secrets key');
      return { sealed: sealSecret(value.secret, key) };
    });
  }

  /** The ticket an earlier identical request wrote, or a refusal when the body differs. */
  private async earlier(
    requestId: string,
    requestHash: string,
  ): Promise<CreateTicketReply | undefined> {
    const ticket = await this.prisma.ticket.findUnique({
      where: { requestId },
      select: { id: true, requestHash: true, _count: { select: { tasks: true } } },
    });
    if (!ticket) return undefined;
    if (ticket.requestHash !== requestHash) {
      return {
        ok: false,
        status: 409,
        error: {
          code: 'IDEMPOTENCY_KEY_REUSED',
          message: `this idempotency key already created ticket ${ticket.id} from a different body; use a new key for new work`,
        },
      };
    }
    return { ok: true, ticketId: ticket.id, taskCount: ticket._count.tasks };
  }

  /**
   * Ticket, tasks, edges and events in one transaction: all of it or nothing.
   * Nothing, and the refusal, when the tasks would pass the project's hourly quota.
   */
  private async write(w: {
    ticket: {
      id: string;
      projectId: string;
      title: string;
      priority: number;
      description: string | null;
      labels: string[];
      budgetUsd: number | null;
    };
    tasks: NewTask[];
    gatedRoots: string[];
    edges: Edge[];
    events: OutboxMessage[];
    correlationId?: string;
    requestId?: string;
    requestHash: string;
    quota: ProjectQuota;
    alongside?: AlongsideWrite;
  }): Promise<QuotaRefusal | undefined> {
    const { ticket, tasks, requestId, requestHash } = w;
    const effects = new Effects();
    const refused = await this.prisma.$transaction(
      async (tx) => {
        const refused = await checkHourlyQuota(tx, w.quota, tasks.length);
        if (refused) return refused;
        await tx.ticket.create({
          data: {
            ...ticket,
            openTasks: tasks.length,
            traceparent: currentTraceparent(),
            requestId: requestId ?? null,
            requestHash,
          },
        });
        await insertTasks(tx, tasks);
        await insertEdges(tx, ticket.id, w.edges);
        await w.alongside?.(tx, ticket, new Map(tasks.map((t) => [t.key, t.id])));
        const events = [...w.events];
        await activateRoots(tx, ticket.id, w.gatedRoots, events, effects);
        await appendToOutbox(tx, events, w.correlationId);
        return undefined;
      },
      { timeout: 60_000 },
    );
    if (effects.timers.length) {
      await this.timers?.schedule(effects.timers).catch((error: Error) => {
        this.logger.warn(`setting approval timers failed (${error.message}); the reconciler will`);
      });
    }
    return refused;
  }
}

/**
 * What makes a ticket's tasks unrunnable as a whole (a bad graph, a condition or
 * template that does not parse or names a step that is not upstream), or
 * undefined. The gateway asks first; the orchestrator again (it trusts no caller).
 */
export function ticketProblem(tasks: readonly TaskInput[]): ErrorBody | undefined {
  const graph = validateGraph(tasks);
  if (!graph.ok) {
    return {
      code: 'INVALID_GRAPH',
      message: 'the task graph is invalid',
      details: describeGraphErrors(graph.errors),
    };
  }
  const details = [
    ...checkPipelineReferences(tasks),
    ...tasks.flatMap((t, i) =>
      t.workspace_from === undefined || t.depends_on.includes(t.workspace_from)
        ? []
        : [
            {
              path: `tasks.${i}.workspace_from`,
              message: `"${t.workspace_from}" is not one of ${t.key}'s depends_on: a task starts from the workspace of a step it waits for`,
            },
          ],
    ),
  ];
  if (!details.length) return undefined;
  return {
    code: 'INVALID_PIPELINE',
    message: details.map((d) => `${d.path}: ${d.message}`).join('; '),
    details,
  };
}

/**
 * Which step's workspace each task starts from, by key: its `workspace_from`,
 * or with `workspace: shared` its first dependency.
 */
function workspaceSources(input: SubmitTicket): Map<string, string> {
  const sources = new Map<string, string>();
  for (const t of input.tasks) {
    const from = t.workspace_from ?? (input.workspace === 'shared' ? t.depends_on[0] : undefined);
    if (from !== undefined) sources.set(t.key, from);
  }
  return sources;
}

/** Whether a task's prompt or commands refer to upstream outputs. */
function usesTemplates(task: TaskInput): boolean {
  return [
    task.prompt,
    task.solution,
    ...(task.steps ?? []).map((s) => s.run),
    ...(task.acceptance_commands ?? []),
  ].some((text) => text !== undefined && hasTemplates(text));
}

/**
 * Tasks without dependencies that have a condition or an approval gate, written
 * PENDING: each goes where `activate` decides; what that ends (a false
 * condition) releases or blocks its own dependents at once.
 */
async function activateRoots(
  tx: Tx,
  ticketId: string,
  ids: readonly string[],
  events: OutboxMessage[],
  effects: Effects,
): Promise<void> {
  if (!ids.length) return;
  const roots = await tx.$queryRaw<GatedTask[]>`
    SELECT id, ticket_id, key, when_expr, templated, requires_approval, approval_timeout_ms,
           on_failure::text AS on_failure, spec, spec_templates
    FROM task WHERE id = ANY(${ids}::uuid[]) ORDER BY id FOR UPDATE`;
  let closed = 0;
  for (const root of roots) {
    const { status } = await activate(tx, root, events, effects);
    if (status === 'SKIPPED' || status === 'FAILED') {
      const ref = { id: root.id, ticketId, key: root.key };
      closed += 1 + (await settleDependents(tx, ref, status, events, effects));
    }
  }
  if (closed) await closeTasks(tx, ticketId, closed, events);
}

/** Where the ticket's secret env values are, as `tasks.0.env.TOKEN` or `tasks.0.steps.1.env.TOKEN`. */
function secretPaths(input: SubmitTicket): string[] {
  return input.tasks.flatMap((task, i) => {
    const paths: string[] = [];
    mapSpecEnv(task, (value: EnvValue, path) => {
      if (typeof value !== 'string') paths.push(`tasks.${i}.${path}`);
    });
    return paths;
  });
}

function secretsUnavailable(paths: string[]): CreateTicketReply {
  return {
    ok: false,
    status: 422,
    error: {
      code: 'SECRETS_UNAVAILABLE',
      message:
        'this ticket has secret env values, and secrets need DROVER_SECRETS_KEY on the orchestrator, which is not set',
      details: paths.map((path) => ({
        path,
        message: 'a secret cannot be stored without DROVER_SECRETS_KEY',
      })),
    },
  };
}

/** All of a ticket's tasks in one statement (createMany would send one parameter per field). */
function insertTasks(tx: Tx, tasks: NewTask[]): Promise<number> {
  const policies = tasks.map((t) => t.policy);
  return tx.$executeRaw`
    INSERT INTO task (id, ticket_id, project_id, key, position, title, status, ready_at,
                      priority, agent, provider, spec, max_attempts, attempt_budget, timeout_ms,
                      backoff_base_ms, backoff_factor, backoff_cap_ms, retry_on, phase, when_expr,
                      on_failure, templated, requires_approval, approval_timeout_ms)
    SELECT id, ticket_id, project_id, key, position, title, status, ready_at, priority, agent,
           provider, spec, max_attempts, max_attempts, timeout_ms, backoff_base_ms, backoff_factor,
           backoff_cap_ms, retry_on::"ErrorClass"[], phase, when_expr, on_failure::"OnFailure",
           templated, requires_approval, approval_timeout_ms
    FROM unnest(
      ${tasks.map((t) => t.id)}::uuid[], ${tasks.map((t) => t.ticketId)}::uuid[],
      ${tasks.map((t) => t.projectId)}::uuid[], ${tasks.map((t) => t.key)}::text[],
      ${tasks.map((t) => t.position)}::int[], ${tasks.map((t) => t.title)}::text[],
      ${tasks.map((t) => t.status)}::"TaskStatus"[], ${tasks.map((t) => t.readyAt)}::timestamptz[],
      ${tasks.map((t) => t.priority)}::int[], ${tasks.map((t) => t.agent)}::text[],
      ${tasks.map((t) => t.provider)}::text[], ${tasks.map((t) => JSON.stringify(t.spec))}::jsonb[],
      ${policies.map((p) => p.maxAttempts)}::int[], ${policies.map((p) => p.timeoutMs)}::int[],
      ${policies.map((p) => p.backoffBaseMs)}::int[], ${policies.map((p) => p.backoffFactor)}::float8[],
      ${policies.map((p) => p.backoffCapMs)}::int[],
      -- One array literal per task: unnest would flatten an array of arrays.
      ${policies.map((p) => `{${p.retryOn.join(',')}}`)}::text[],
      ${tasks.map((t) => t.phase)}::text[], ${tasks.map((t) => t.whenExpr)}::text[],
      ${tasks.map((t) => t.onFailure)}::text[], ${tasks.map((t) => t.templated)}::boolean[],
      ${tasks.map((t) => t.requiresApproval)}::boolean[],
      ${tasks.map((t) => t.approvalTimeoutMs)}::int[])
    AS t(id, ticket_id, project_id, key, position, title, status, ready_at, priority, agent,
         provider, spec, max_attempts, timeout_ms, backoff_base_ms, backoff_factor,
         backoff_cap_ms, retry_on, phase, when_expr, on_failure, templated, requires_approval,
         approval_timeout_ms)`;
}

function insertEdges(tx: Tx, ticketId: string, edges: Edge[]): Promise<number> {
  if (!edges.length) return Promise.resolve(0);
  return tx.$executeRaw`
    INSERT INTO task_dependency (task_id, depends_on_id, ticket_id)
    SELECT task_id, depends_on_id, ${ticketId}::uuid
    FROM unnest(${edges.map((e) => e.taskId)}::uuid[], ${edges.map((e) => e.dependsOnId)}::uuid[])
      AS e(task_id, depends_on_id)`;
}
