import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  providerForAgent,
  type CreateTicketReply,
  type SubmitTicket,
  type TaskSpec,
  type TaskStatus,
} from '@drover/contracts';
import type { PrismaClient, Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { currentTraceparent } from '@drover/telemetry';
import { describeGraphErrors, validateGraph } from '../graph';
import { taskChanged, ticketChanged } from '../outbox-messages';

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
}

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

  constructor(private readonly prisma: PrismaClient) {}

  async execute(input: SubmitTicket, correlationId?: string): Promise<CreateTicketReply> {
    const graph = validateGraph(input.tasks);
    if (!graph.ok) {
      return {
        ok: false,
        status: 422,
        error: {
          code: 'INVALID_GRAPH',
          message: 'the task graph is invalid',
          details: describeGraphErrors(graph.errors),
        },
      };
    }
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

    const ticketId = randomUUID();
    const now = new Date();
    const ids = new Map(input.tasks.map((t) => [t.key, randomUUID()]));
    const tasks: NewTask[] = input.tasks.map((t, position) => {
      const ready = t.depends_on.length === 0;
      const spec: TaskSpec = { steps: t.steps };
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
      };
    });
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

    await this.prisma.$transaction(
      async (tx) => {
        await tx.ticket.create({
          data: {
            id: ticketId,
            projectId: project.id,
            title: input.title,
            priority: input.priority,
            openTasks: tasks.length,
            traceparent: currentTraceparent(),
          },
        });
        await insertTasks(tx, tasks);
        await insertEdges(tx, ticketId, edges);
        await appendToOutbox(tx, events, correlationId);
      },
      { timeout: 60_000 },
    );
    this.logger.log(`ticket ${ticketId} created with ${tasks.length} tasks`);
    return { ok: true, ticketId, taskCount: tasks.length };
  }
}

/** All of a ticket's tasks in one statement (createMany would send one parameter per field). */
function insertTasks(tx: Tx, tasks: NewTask[]): Promise<number> {
  return tx.$executeRaw`
    INSERT INTO task (id, ticket_id, project_id, key, position, title, status, ready_at,
                      priority, agent, provider, spec)
    SELECT * FROM unnest(
      ${tasks.map((t) => t.id)}::uuid[], ${tasks.map((t) => t.ticketId)}::uuid[],
      ${tasks.map((t) => t.projectId)}::uuid[], ${tasks.map((t) => t.key)}::text[],
      ${tasks.map((t) => t.position)}::int[], ${tasks.map((t) => t.title)}::text[],
      ${tasks.map((t) => t.status)}::"TaskStatus"[], ${tasks.map((t) => t.readyAt)}::timestamptz[],
      ${tasks.map((t) => t.priority)}::int[], ${tasks.map((t) => t.agent)}::text[],
      ${tasks.map((t) => t.provider)}::text[], ${tasks.map((t) => JSON.stringify(t.spec))}::jsonb[])`;
}

function insertEdges(tx: Tx, ticketId: string, edges: Edge[]): Promise<number> {
  if (!edges.length) return Promise.resolve(0);
  return tx.$executeRaw`
    INSERT INTO task_dependency (task_id, depends_on_id, ticket_id)
    SELECT task_id, depends_on_id, ${ticketId}::uuid
    FROM unnest(${edges.map((e) => e.taskId)}::uuid[], ${edges.map((e) => e.dependsOnId)}::uuid[])
      AS e(task_id, depends_on_id)`;
}
