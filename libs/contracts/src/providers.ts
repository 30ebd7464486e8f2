import { z } from 'zod';
import { ErrorBody } from './error-body';

/** A provider's name as a concurrency limit names it (`claude`, `openai`, `default`). */
export const ProviderName = z.string().regex(/^[a-z0-9_-]+$/);

/** gateway -> scheduler (request/reply): the per-provider concurrency limits it enforces. */
export const DescribeLimits = z.object({}).strict();
export type DescribeLimits = z.infer<typeof DescribeLimits>;

export const DescribeLimitsReply = z.discriminatedUnion('ok', [
  z.object({
    ok: z.literal(true),
    /**
     * Most tasks DISPATCHED or RUNNING at once per provider; `default` is the limit of
     * every provider not named (and of the `default` provider itself).
     */
    limits: z
      .record(ProviderName, z.number().int().nonnegative())
      .refine((limits) => Object.hasOwn(limits, 'default'), 'must name the default limit'),
  }),
  z.object({ ok: z.literal(false), status: z.number().int(), error: ErrorBody }),
]);
export type DescribeLimitsReply = z.infer<typeof DescribeLimitsReply>;

/** A row of `GET /providers`: a provider's active tasks against its limit. */
export const ProviderLoad = z.object({
  provider: ProviderName,
  /** Tasks of every project DISPATCHED or RUNNING on the provider: what the limit counts. */
  running: z.number().int().nonnegative(),
  /** Of those, the caller's project's. */
  runningInProject: z.number().int().nonnegative(),
  limit: z.number().int().nonnegative(),
});
export type ProviderLoad = z.infer<typeof ProviderLoad>;
