import { z } from 'zod';

// What runs leave behind (log lines, artifacts): shapes the runner reports, the API and
// the event stream show. Plain zod only, so that browsers can load them.

export const LogStream = z.enum(['stdout', 'stderr', 'system']);
export type LogStream = z.infer<typeof LogStream>;

export const LogLine = z.object({
  stream: LogStream,
  text: z.string().max(65_536),
  ts: z.iso.datetime(),
});
export type LogLine = z.infer<typeof LogLine>;

/** A stored artifact's name: flat, 1-128 of [A-Za-z0-9._-], not starting with "." or "-". */
export const ArtifactName = z
  .string()
  .regex(
    /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/,
    'must be 1-128 characters of A-Z, a-z, 0-9, ".", "_" or "-", not starting with "." or "-"',
  );

/** What an artifact holds: the run's diff, an iteration's log, the run's result.json, or a file. */
export const ArtifactKind = z.enum(['diff', 'log', 'result', 'file']);
export type ArtifactKind = z.infer<typeof ArtifactKind>;

export const ArtifactInfo = z.object({
  name: ArtifactName,
  kind: ArtifactKind,
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[a-f0-9]{64}$/),
  contentType: z.string().min(1).max(200),
});
export type ArtifactInfo = z.infer<typeof ArtifactInfo>;
