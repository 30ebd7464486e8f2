import type { EnvPath } from '@drover/contracts';

/**
 * A task's repository or ref refused before any git runs, or a secret env value
 * the runner cannot open. The run ends with error class INVALID_SPEC and this
 * message, which starts with the field ("repo: the ext:: transport is not allowed").
 */
export class InvalidSpecError extends Error {
  constructor(
    readonly field: 'repo' | 'clone_branch' | 'push_branch' | EnvPath | `resources.${string}`,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'InvalidSpecError';
  }
}

/**
 * git failed, timed out, was aborted or printed more than the runner reads.
 * Not the user's fault (or not provably): network, authentication, a server
 * that refuses, the runner's disk.
 */
export class GitError extends Error {
  constructor(
    message: string,
    readonly reason: 'failed' | 'timeout' | 'aborted' | 'overflow' = 'failed',
  ) {
    super(message);
    this.name = 'GitError';
  }
}

/**
 * git could not record what the run left in its workspace (a path git refuses,
 * a file it cannot read): the agent's doing, not the runner's. The run ends
 * AGENT_FAILED with this message, which names paths relative to the workspace.
 */
export class WorkTreeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkTreeError';
  }
}
