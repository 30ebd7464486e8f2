import type { CreateProject } from '@drover/contracts';
import type { IssuedKey, Project, Served } from '@drover/contracts/api';
import { Prisma, type PrismaClient } from '@drover/db';
import { numbersColumn } from '../json-columns';
import { ApiKeys } from './api-keys';

/** The project the first migration creates: tickets that name none belonged to it. */
export const DEFAULT_PROJECT = {
  id: '00000000-0000-4000-8000-000000000001',
  slug: 'default',
} as const;

export class ProjectExistsError extends Error {}

/** A project as the API shows it. */
export type ProjectInfo = Served<typeof Project>;

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

type ProjectRow = Prisma.ProjectGetPayload<{ select: typeof projectFields }>;

function toProject({ maxResources, ...row }: ProjectRow): ProjectInfo {
  return {
    ...row,
    maxResources: numbersColumn(maxResources, `project ${row.slug}: max_resources`),
  };
}

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
  ): Promise<{ project: ProjectInfo; key: Served<typeof IssuedKey> }> {
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
        return { project: toProject(project), key };
      });
    } catch (error) {
      if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === 'P2002') {
        throw new ProjectExistsError(`a project with slug "${input.slug}" already exists`);
      }
      throw error;
    }
  }

  async get(id: string): Promise<ProjectInfo | null> {
    const row = await this.prisma.project.findUnique({ where: { id }, select: projectFields });
    return row && toProject(row);
  }

  async bySlug(slug: string): Promise<ProjectInfo | null> {
    const row = await this.prisma.project.findUnique({ where: { slug }, select: projectFields });
    return row && toProject(row);
  }
}
