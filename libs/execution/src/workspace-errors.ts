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
 * git failed, timed out or was aborted. Not the user's fault (or not provably):
 * network, authentication, a server that refuses, a workspace in a bad state.
 */
export class GitError extends Error {
  constructor(
    message: string,
    readonly reason: 'failed' | 'timeout' | 'aborted' = 'failed',
  ) {
    super(message);
    this.name = 'GitError';
  }
}
