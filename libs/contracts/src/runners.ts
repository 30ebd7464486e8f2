import { z } from 'zod';
import { ProjectSlug } from './tickets';
import { RunnerImages } from './waiting';

const RunnerId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);

export const RegisterRunner = z.object({
  runnerId: RunnerId,
  name: z.string().min(1).max(200),
  slots: z.number().int().positive().max(10_000),
  capabilities: z.array(z.string().max(200)).max(100),
  heartbeatIntervalMs: z.number().int().positive(),
  /** The project whose own pool the runner serves; absent: the shared pool. */
  project: ProjectSlug.optional(),
  /**
   * The image references its engine has (`imageAliases` of each tag); absent: it
   * does not say (a process-driver runner runs no image), and is taken to run any.
   */
  images: RunnerImages.optional(),
});
export type RegisterRunner = z.infer<typeof RegisterRunner>;

export const DeregisterRunner = z.object({ runnerId: RunnerId });
export type DeregisterRunner = z.infer<typeof DeregisterRunner>;

export const RegistryReply = z.object({
  ok: z.boolean(),
  message: z.string().optional(),
  /** On a registration with `project`: that project's id, which names its pool. */
  projectId: z.uuid().optional(),
});
export type RegistryReply = z.infer<typeof RegistryReply>;

/**
 * runner -> health monitor (request/reply): the runner is alive and still runs
 * these runs. Each listed lease is renewed; the reply names the runs the runner
 * no longer owns (ended, cancelled, timed out, given to another runner), which it
 * must stop at once.
 */
export const RunnerHeartbeat = z.object({
  runnerId: RunnerId,
  freeSlots: z.number().int().nonnegative(),
  activeRuns: z.array(z.object({ runId: z.uuid(), leaseToken: z.uuid() })).max(10_000),
  sentAt: z.iso.datetime(),
  /** The engine's images when they changed since the runner last said (see `RegisterRunner`). */
  images: RunnerImages.optional(),
});
export type RunnerHeartbeat = z.infer<typeof RunnerHeartbeat>;

export const HeartbeatReply = z.object({
  /** False when the registry does not know this runner as ONLINE or STALE: register again. */
  registered: z.boolean(),
  /** Runs the runner listed that it must stop: their leases are gone. */
  revoked: z.array(z.uuid()),
  /**
   * Present only when the leases of the runs listed and not revoked were renewed:
   * how long they now last from the heartbeat's arrival. A runner that sent the
   * heartbeat at T holds them until at least T + leaseMs, and its containers are
   * removed past that unless a later heartbeat renews them.
   */
  leaseMs: z.number().int().positive().optional(),
});
export type HeartbeatReply = z.infer<typeof HeartbeatReply>;
