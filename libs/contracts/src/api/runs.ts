import { z } from 'zod';
import { RunnerStatus, RunStatus } from '../domain';
import { ProviderLoad as ProviderLoadFields } from '../providers';
import { ArtifactInfo, LogLine } from '../run-outputs';
import { published } from './schema-registry';
import { Count, Timestamp } from './wire';

// The bodies of /runs/:id/..., /runners and /providers.

export const LogEntry = published(
  'LogEntry',
  LogLine.extend({ n: Count.describe('its line number, from 0') }).describe(
    "One line of a run's output: `stream` is stdout, stderr or system (Drover's own)",
  ),
);
export type LogEntry = z.input<typeof LogEntry>;

export const LogPage = published(
  'LogPage',
  z
    .object({
      runId: z.uuid(),
      taskId: z.uuid(),
      status: RunStatus,
      /** One past the highest line number stored so far. */
      totalLines: Count,
      lines: z.array(LogEntry),
      nextAfter: Count.nullable().describe(
        'pass as `after` for the next page; null: none stored yet',
      ),
    })
    .describe("A page of a run's log; lost lines leave gaps in `n`"),
);
export type LogPage = z.input<typeof LogPage>;

export const Artifact = published(
  'Artifact',
  ArtifactInfo.extend({
    createdAt: Timestamp,
    /** Where to download it (GET). */
    url: z.string(),
  }).describe('A file the run stored: its diff, an iteration log, result.json, or a file'),
);
export type Artifact = z.input<typeof Artifact>;

export const ArtifactList = published(
  'ArtifactList',
  z.object({ items: z.array(Artifact).describe('by name') }),
);
export type ArtifactList = z.input<typeof ArtifactList>;

export const Runner = published(
  'Runner',
  z
    .object({
      id: z.string(),
      name: z.string(),
      status: RunnerStatus,
      slots: Count,
      freeSlots: Count,
      capabilities: z.array(z.string()),
      heartbeatIntervalMs: Count,
      registeredAt: Timestamp,
      lastHeartbeatAt: Timestamp,
      project: z.string().nullable().describe("its project's slug; null: the shared pool"),
    })
    .describe("A runner that may take the project's work"),
);
export type Runner = z.input<typeof Runner>;

export const RunnerList = published('RunnerList', z.object({ items: z.array(Runner) }));
export type RunnerList = z.input<typeof RunnerList>;

export const ProviderLoad = published(
  'ProviderLoad',
  ProviderLoadFields.describe(
    "A provider's tasks DISPATCHED or RUNNING against its concurrency limit (the scheduler's): `running` of every project (what the limit counts), `runningInProject` the caller's",
  ),
);
export type ProviderLoad = z.input<typeof ProviderLoad>;

export const ProviderList = published(
  'ProviderList',
  z.object({
    items: z
      .array(ProviderLoad)
      .describe('every provider a limit names (`default` too) or with active tasks, by name'),
  }),
);
export type ProviderList = z.input<typeof ProviderList>;
