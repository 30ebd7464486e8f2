import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import {
  providerForAgent,
  type CreateTicketReply,
  type SubmitTicket,
  type TaskSpec,
} from '@drover/contracts';
import type { Prisma, PrismaClient } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';
import { currentTraceparent } from '@drover/telemetry';
import { describeGraphErrors, validateGraph } from '../graph';
import { taskChanged, ticketChanged } from '../outbox-messages';

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
    const tasks: Prisma.TaskCreateManyInput[] = input.tasks.map((t, position) => {
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
    const edges: Prisma.TaskDependencyCreateManyInput[] = input.tasks.flatMap((t) =>
      [...new Set(t.depends_on)].map((dep) => ({
        taskId: ids.get(t.key) as string,
        dependsOnId: ids.get(dep) as string,
        ticketId,
      })),
    );
    const events: OutboxMessage[] = [
      ticketChanged(ticketId, 'PENDING', null),
      ...tasks.map((t) =>
        taskChanged({ id: t.id, ticketId, key: t.key }, t.status ?? 'PENDING', null),
      ),
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
        await tx.task.createMany({ data: tasks });
        if (edges.length) await tx.taskDependency.createMany({ data: edges });
        await appendToOutbox(tx, events, correlationId);
      },
      { timeout: 60_000 },
    );
    this.logger.log(`ticket ${ticketId} created with ${tasks.length} tasks`);
    return { ok: true, ticketId, taskCount: tasks.length };
  }
}
