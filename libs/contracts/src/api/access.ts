import { z } from 'zod';
import { KeyRole } from '../key-roles';
import { published } from './schema-registry';
import { Count, Timestamp } from './wire';

// The bodies of /projects, /keys, /me and /events/token.

export const Project = published(
  'Project',
  z.object({
    id: z.uuid(),
    slug: z.string(),
    name: z.string(),
    /** null: the scheduler's default. */
    maxRunningTasks: Count.nullable(),
    /** null: the orchestrator's default. */
    maxTasksPerHour: Count.nullable(),
    maxResources: z
      .record(z.string(), z.number())
      .nullable()
      .describe("its own ceilings of its tasks' resources (memory_mb, cpus, ...)"),
    ownRunners: z.boolean().describe('its tasks run only on its own runners'),
    createdAt: Timestamp,
  }),
);
export type Project = z.input<typeof Project>;

export const ApiKey = published(
  'ApiKey',
  z
    .object({
      id: z.uuid(),
      name: z.string(),
      role: KeyRole,
      /** The key's public part: `drv_<prefix>_...`. */
      prefix: z.string(),
      /** The project's slug. */
      project: z.string(),
      createdAt: Timestamp,
      expiresAt: Timestamp.nullable(),
      revokedAt: Timestamp.nullable(),
    })
    .describe('An API key, never its secret'),
);
export type ApiKey = z.input<typeof ApiKey>;

export const IssuedKey = published(
  'IssuedKey',
  ApiKey.extend({
    key: z.string().describe('the secret `drv_...`: shown in this answer only, never again'),
  }),
);
export type IssuedKey = z.input<typeof IssuedKey>;

export const KeyList = published(
  'KeyList',
  z.object({ items: z.array(ApiKey).describe('newest first, revoked ones too') }),
);
export type KeyList = z.input<typeof KeyList>;

export const ProjectCreated = published(
  'ProjectCreated',
  z.object({ project: Project, key: IssuedKey.describe('its first admin key') }),
);
export type ProjectCreated = z.input<typeof ProjectCreated>;

export const Me = published(
  'Me',
  z
    .object({
      keyId: z.uuid(),
      name: z.string(),
      role: KeyRole,
      expiresAt: Timestamp.nullable(),
      project: Project,
    })
    .describe('The calling key and its project'),
);
export type Me = z.input<typeof Me>;

export const EventToken = published(
  'EventToken',
  z
    .object({ token: z.string(), expiresAt: Timestamp })
    .describe('Opens the event stream once, without a header: /events?token=<token>'),
);
export type EventToken = z.input<typeof EventToken>;
