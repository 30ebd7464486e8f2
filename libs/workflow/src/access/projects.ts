import type { CreateProject } from '@drover/contracts';
import { Prisma, type PrismaClient } from '@drover/db';
import { ApiKeys, type KeyInfo } from './api-keys';

/** The project the first migration creates: tickets that name none belonged to it. */
export const DEFAULT_PROJECT = {
  id: '00000000-0000-4000-8000-000000000001',
  slug: 'default',
} as const;

export class ProjectExistsError extends Error {}

export interface ProjectInfo {
  id: string;
  slug: string;
  name: string;
  maxRunningTasks: number | null;
  maxTasksPerHour: number | null;
  /** Its own ceilings of its tasks' `resources`, as given (`{"memory_mb": 8192}`). */
  maxResources: Prisma.JsonValue;
  /** Its tasks run only on its own runners (registered with RUNNER_PROJECT), never shared ones. */
  ownRunners: boolean;
  createdAt: Date;
}

const projectFields = {
  id: true,
  slug: true,
  name: true,
  maxRunningTasks: true,
  maxTasksPerHour: true,
  maxResources: true,
  ownRunners: true,
  createdAt: true,
} as const;

/** Projects: the unit of ownership of tickets, tasks, runs, artifacts and keys. */
export class Projects {
  private readonly keys: ApiKeys;

  constructor(private readonly prisma: PrismaClient) {
    this.keys = new ApiKeys(prisma);
  }

  /**
   * Creates a project with its first admin key, together or not at all.
   * Throws ProjectExistsError when the slug is taken.
   */
  async create(
    input: CreateProject,
    createdBy: string | null,
    /** The first key's expiry (an expiring key's project gets a key no longer-lived). */
    expiresAt: Date | null = null,
  ): Promise<{ project: ProjectInfo; key: KeyInfo & { key: string } }> {
    try {
      return await this.prisma.$transaction(async (tx) => {
        const project = await tx.project.create({
          data: {
            slug: input.slug,
            name: input.name,
            maxRunningTasks: input.max_running_tasks ?? null,
            maxTasksPerHour: input.max_tasks_per_hour ?? null,
            ...(input.max_resources ? { maxResources: input.max_resources } : {}),
            ownRunners: input.own_runners ?? false,
          },
          select: projectFields,
        });
        const key = await this.keys.issue(
          {
            projectId: project.id,
            name: `${input.slug} admin`,
            role: 'admin',
            createdBy,
            expiresAt,
          },
          tx,
        );
        return { project, key };
      });
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
        throw new ProjectExistsError(`a project with slug "${input.slug}" already exists`);
      }
      throw error;
    }
  }

  get(id: string): Promise<ProjectInfo | null> {
    return this.prisma.project.findUnique({ where: { id }, select: projectFields });
  }

  bySlug(slug: string): Promise<ProjectInfo | null> {
    return this.prisma.project.findUnique({ where: { slug }, select: projectFields });
  }
}
