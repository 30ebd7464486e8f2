import { randomInt, randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import type { CreateExperiment, CreateExperimentReply } from '@drover/contracts';
import type { PrismaClient, Tx } from '@drover/db';
import type { CreateTicket } from './create-ticket';

// prettier-ignore
const ADJECTIVES = [
  'amber', 'bold', 'brisk', 'calm', 'clever', 'crisp', 'daring', 'eager', 'fair', 'fleet',
  'gentle', 'glad', 'hardy', 'keen', 'lively', 'lucid', 'mellow', 'nimble', 'noble', 'plucky',
  'proud', 'quick', 'quiet', 'rapid', 'sharp', 'shiny', 'sly', 'spry', 'steady', 'stout',
  'sunny', 'swift', 'tidy', 'vivid', 'warm', 'wily', 'witty', 'young', 'zany', 'zesty',
];
// prettier-ignore
const NOUNS = [
  'badger', 'beaver', 'bison', 'crane', 'falcon', 'ferret', 'finch', 'fox', 'gecko', 'heron',
  'ibex', 'jackal', 'koala', 'lark', 'lemur', 'lynx', 'marten', 'mole', 'moose', 'newt',
  'ocelot', 'orca', 'otter', 'owl', 'panda', 'puffin', 'quail', 'raven', 'robin', 'seal',
  'shrew', 'stoat', 'swan', 'tapir', 'toad', 'trout', 'vole', 'walrus', 'wren', 'yak',
];

/** A human-friendly name, `brisk-otter-417`. */
export function experimentName(): string {
  const pick = (list: readonly string[]) => list[randomInt(list.length)];
  return `${pick(ADJECTIVES)}-${pick(NOUNS)}-${randomInt(100, 1000)}`;
}

class NameTaken extends Error {}

/**
 * Writes an experiment: its ticket (the trials as tasks, through CreateTicket,
 * with every check a ticket gets) and, in the same transaction, the experiment
 * and which sweep cell each task is. A name given and taken in the project is
 * refused (409); a generated one is drawn again.
 */
export class CreateExperimentUseCase {
  private readonly logger = new Logger(CreateExperimentUseCase.name);

  constructor(
    private readonly prisma: PrismaClient,
    private readonly createTicket: CreateTicket,
  ) {}

  async execute(
    request: CreateExperiment,
    correlationId?: string,
    requestId?: string,
  ): Promise<CreateExperimentReply> {
    for (let attempt = 1; ; attempt++) {
      const name = request.name ?? experimentName();
      const experimentId = randomUUID();
      try {
        const reply = await this.createTicket.execute(
          { ...request.ticket, title: `experiment ${name}` },
          correlationId,
          requestId,
          (tx, ticket, taskIds) =>
            this.write(tx, { ...request, name }, experimentId, ticket, taskIds),
        );
        if (!reply.ok) return reply;
        // A repeated request gets the experiment its first one wrote.
        const written = await this.prisma.experiment.findUniqueOrThrow({
          where: { ticketId: reply.ticketId },
          select: { id: true, name: true },
        });
        this.logger.log(`experiment ${written.name} created: ${reply.taskCount} tasks`);
        return {
          ok: true,
          experimentId: written.id,
          name: written.name,
          ticketId: reply.ticketId,
          taskCount: reply.taskCount,
        };
      } catch (error) {
        if (!(error instanceof NameTaken)) throw error;
        if (request.name !== null) {
          return {
            ok: false,
            status: 409,
            error: {
              code: 'NAME_TAKEN',
              message: `the project already has an experiment named "${name}"; choose another name or leave it out`,
              details: [{ path: 'name', message: 'taken' }],
            },
          };
        }
        if (attempt >= 5) throw new Error('no free experiment name after 5 draws');
      }
    }
  }

  private async write(
    tx: Tx,
    request: CreateExperiment & { name: string },
    experimentId: string,
    ticket: { id: string; projectId: string },
    taskIds: ReadonlyMap<string, string>,
  ): Promise<void> {
    const inserted = await tx.$executeRaw`
      INSERT INTO experiment (id, project_id, ticket_id, name, agents, models, n_trials, analysis)
      VALUES (${experimentId}::uuid, ${ticket.projectId}::uuid, ${ticket.id}::uuid, ${request.name},
              ${request.agents}::text[], ${request.models}::text[], ${request.nTrials},
              ${request.analysis === null ? null : JSON.stringify(request.analysis)}::jsonb)
      ON CONFLICT (project_id, name) DO NOTHING`;
    if (!inserted) throw new NameTaken(request.name);
    const trials = request.trials.map((t) => {
      const taskId = taskIds.get(t.key);
      if (!taskId) throw new Error(`trial ${t.key} has no task in the experiment's ticket`);
      return { ...t, taskId };
    });
    await tx.$executeRaw`
      INSERT INTO trial (task_id, experiment_id, task_name, agent, model, trial, role)
      SELECT task_id, ${experimentId}::uuid, task_name, agent, model, trial, role::"TrialRole"
      FROM unnest(${trials.map((t) => t.taskId)}::uuid[], ${trials.map((t) => t.taskName)}::text[],
                  ${trials.map((t) => t.agent)}::text[], ${trials.map((t) => t.model)}::text[],
                  ${trials.map((t) => t.trial)}::int[], ${trials.map((t) => t.role)}::text[])
        AS t(task_id, task_name, agent, model, trial, role)`;
  }
}
