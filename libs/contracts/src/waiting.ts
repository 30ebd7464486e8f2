import { z } from 'zod';

/**
 * Why no runner can take a READY or DISPATCHED task, as the runner registry
 * says: no runner is ONLINE at all; none of the task's pool (the shared pool, or
 * its project's own); or none of the pool's has the image the task names.
 */
export const WaitingReason = z.enum([
  'NO_RUNNER_ONLINE',
  'NO_RUNNER_IN_POOL',
  'NO_RUNNER_WITH_IMAGE',
]);
export type WaitingReason = z.infer<typeof WaitingReason>;

/** A task's wait for a runner, as the API and the stream show it. */
export const Waiting = z.object({
  reason: WaitingReason,
  /** What it means and what to do, for people. */
  message: z.string(),
  /** Since when the task has waited for a runner (kept while the reason changes). */
  since: z.iso.datetime(),
});
export type Waiting = z.infer<typeof Waiting>;

/** What a waiting message names: the task's pool and image. */
export interface WaitingContext {
  /** The slug of the project whose own pool the task goes to; null: the shared pool. */
  ownPool: string | null;
  image: string | null;
}

/** What a reason means for this task, and the command that ends the wait. */
export function waitingMessage(reason: WaitingReason, context: WaitingContext): string {
  const pool =
    context.ownPool === null ? 'the shared pool' : `project ${context.ownPool}'s own pool`;
  const start =
    context.ownPool === null
      ? 'start a runner (npm run dev starts one; or node dist/apps/agent-runner/main.js)'
      : `start a runner with RUNNER_PROJECT=${context.ownPool}`;
  switch (reason) {
    case 'NO_RUNNER_ONLINE':
      return `no runner is online: ${start}`;
    case 'NO_RUNNER_IN_POOL':
      return `no runner of ${pool} is online: ${start}`;
    case 'NO_RUNNER_WITH_IMAGE':
      return (
        `no online runner of ${pool} has the image ${context.image ?? '?'}: ` +
        "load it into a runner's engine (runners never pull images), or start a runner whose engine has it"
      );
  }
}

/** The `waiting` field of a task: set only while it is READY or DISPATCHED. */
export function waitingOf(
  task: { status: string; waitingReason: WaitingReason | null; waitingSince: Date | null },
  context: WaitingContext,
): Waiting | null {
  if (!task.waitingReason || !task.waitingSince) return null;
  if (task.status !== 'READY' && task.status !== 'DISPATCHED') return null;
  return {
    reason: task.waitingReason,
    message: waitingMessage(task.waitingReason, context),
    since: task.waitingSince.toISOString(),
  };
}

/** Most image references a runner lists (each tag with its short forms). */
export const MAX_RUNNER_IMAGES = 2000;

/** The image references a runner's engine answers to, as a runner lists them. */
export const RunnerImages = z
  .array(
    z
      .string()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._\-/:@]*$/, 'must be an image reference'),
  )
  .max(MAX_RUNNER_IMAGES);

/**
 * Every reference that names the image of an engine's tag: the tag itself and,
 * for Docker Hub images, the forms a task may use for it (`docker.io/library/node:20`,
 * `library/node:20` and `node:20` are one image, whichever the engine lists);
 * a `:latest` tag also the name alone. A digest reference is only itself.
 */
export function imageAliases(tag: string): string[] {
  if (tag.includes('@')) return [tag];
  const first = tag.split('/')[0];
  const hasRegistry =
    tag.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  const path = tag.startsWith('docker.io/') ? tag.slice('docker.io/'.length) : tag;
  const forms =
    hasRegistry && !tag.startsWith('docker.io/')
      ? [tag]
      : path.includes('/')
        ? path.startsWith('library/')
          ? [`docker.io/${path}`, path, path.slice('library/'.length)]
          : [`docker.io/${path}`, path]
        : [`docker.io/library/${path}`, `library/${path}`, path];
  const aliases = new Set(forms);
  for (const form of forms) if (form.endsWith(':latest')) aliases.add(form.slice(0, -7));
  return [...aliases];
}
