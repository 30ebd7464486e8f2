import { z } from 'zod';

const RunnerId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);

export const RegisterRunner = z.object({
  runnerId: RunnerId,
  name: z.string().min(1).max(200),
  slots: z.number().int().positive().max(10_000),
  capabilities: z.array(z.string().max(200)).max(100),
  heartbeatIntervalMs: z.number().int().positive(),
});
export type RegisterRunner = z.infer<typeof RegisterRunner>;

export const DeregisterRunner = z.object({ runnerId: RunnerId });
export type DeregisterRunner = z.infer<typeof DeregisterRunner>;

export const RegistryReply = z.object({ ok: z.boolean(), message: z.string().optional() });
export type RegistryReply = z.infer<typeof RegistryReply>;

export const RunnerHeartbeat = z.object({
  runnerId: RunnerId,
  freeSlots: z.number().int().nonnegative(),
  activeRunIds: z.array(z.uuid()),
  sentAt: z.iso.datetime(),
});
export type RunnerHeartbeat = z.infer<typeof RunnerHeartbeat>;
