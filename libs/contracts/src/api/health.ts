import { z } from 'zod';
import { published } from './schema-registry';
import { Count } from './wire';

export const Dependency = z.enum(['postgres', 'nats', 'redis']);
export type Dependency = z.infer<typeof Dependency>;

export const Check = z.object({
  status: z.enum(['up', 'down']),
  latencyMs: Count,
  error: z.string().optional(),
});
export type Check = z.infer<typeof Check>;

export const Health = published(
  'Health',
  z
    .object({
      status: z.enum(['ok', 'down']),
      /** The dependencies that are down (the answer is then 503). */
      down: z.array(Dependency),
      checks: z.object({ postgres: Check, nats: Check, redis: Check }),
      runners: z
        .object({
          online: Count,
          pools: z
            .record(z.string(), Count)
            .describe('`shared`, and `project:<slug>` per own pool'),
        })
        .nullable()
        .describe('the runners ONLINE, in all and per pool; null while Postgres is down'),
    })
    .describe("The gateway's dependencies (503 when one is down) and the runners online"),
);
export type Health = z.input<typeof Health>;
