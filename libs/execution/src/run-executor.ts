import { appendFile, chmod, lstat, mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Logger } from '@nestjs/common';
import {
  InputAsk,
  isCliAgent,
  type ArtifactInfo,
  type ArtifactKind,
  type LogLine,
  type LogStream,
  type ResourceCeilings,
  type Resources,
  type RunDispatched,
  type TaskSpec,
  taskNetwork,
} from '@drover/contracts';
import type { ArtifactStore } from '@drover/storage';
import { withSpan } from '@drover/telemetry';
import { EgressUnavailableError, ImageMissingError, LeaseLapsedError } from './docker-driver';
import { openEgress, type RunEgress } from './egress';
import type { ProviderEndpoints } from './agents/providers';
import { composePrompt, readContextFiles, runAgentOnce, type AgentIteration } from './agent-step';
import { failure, stopped, succeeded, type AgentContext, type AgentOutcome } from './command-agent';
import { LogBuffer } from './log-buffer';
import { Redactor } from './redactor';
import {
  OUTPUT_DIR,
  OUTPUT_FILE,
  REQUEST_FILE,
  type SandboxDriver,
  type SandboxLimits,
} from './sandbox-driver';
import { exitText, failureFeedback, runAcceptance, type AcceptanceResult } from './verification';
import type { SourcePolicy } from './repo-source';
import { openSpecSecrets, type OpenedSpec } from './secret-env';
import {
  commitAndPush,
  diffWorkspace,
  prepareWorkspace,
  type Checkout,
  type WorkspaceChange,
} from './workspace';
import { GitError, InvalidSpecError, WorkTreeError } from './workspace-errors';
import { checkGitDir, shareGitDir } from './git-dir';
import { hideHostPaths, type RunPaths } from './host-paths';
import { checkWritePolicy, describeBreaches, type WritePolicy } from './write-policy';
import { aboutRun, SnapshotError } from './snapshot-errors';
import { mountRunDir, withinQuota, type DiskQuota, type RunVolume } from './disk-quota';
import { checkResourceCeilings } from './resource-limits';
import { snapshotHead } from './snapshot-head';
import {
  checkSnapshot,
  downloadSnapshot,
  restoreWorkspace,
  SNAPSHOT_ARTIFACT,
  SNAPSHOT_CONTENT_TYPE,
  snapshotWorkspace,
} from './workspace-snapshot';

/**
 * How a runner tells the control plane about a run it was granted; every report
 * carries the lease.
 */
export interface RunReporter {
  log(work: RunDispatched, firstLine: number, lines: LogLine[]): Promise<void>;
  artifact(work: RunDispatched, artifact: ArtifactInfo): Promise<void>;
  /** After every log batch was sent: `logLines` counts them all (the run ends once all are stored). */
  finished(
    work: RunDispatched,
    outcome: AgentOutcome,
    finishedAt: Date,
    logLines: number,
  ): Promise<void>;
}

export interface ExecutorOptions {
  workdir: string;
  driver: SandboxDriver;
  reporter: RunReporter;
  artifacts: ArtifactStore;
  /** What tasks may fetch from and push to. */
  sources: SourcePolicy;
  /** The runner's provider keys; each CLI agent gets only its own. */
  providerEnv: Readonly<Record<string, string>>;
  /**
   * The providers' base URLs this runner is configured with (ANTHROPIC_BASE_URL ...):
   * passed to the CLIs and allowed by `provider` egress in place of the defaults.
   */
  providerEndpoints?: ProviderEndpoints;
  gitTimeoutMs: number;
  logFlushMs: number;
  keepWorkspaces: boolean;
  /** DROVER_SECRETS_KEY: opens a task's secret env values; without it, such runs fail. */
  secretsKey?: Uint8Array;
  /** The most a task's `resources` may ask for here (RUNNER_MAX_*); no ceiling when left out. */
  ceilings?: ResourceCeilings;
  /** Bounds each run's directory (its workspace and staging); unbounded when left out. */
  disk?: DiskQuota;
}

/**
 * A run's workspace directory, the runner's git dir beside it (never mounted
 * into the sandbox; it exists when the run has a repository), and whether the
 * workspace was prepared (fetched, restored or left empty).
 */
interface Workspace {
  dir: string;
  gitDir: string;
  prepared: boolean;
}

/** One iteration of the verification loop, as result.json tells it. */
interface IterationRecord {
  iteration: number;
  agent: { exitCode: number | null; durationMs: number } & Partial<AgentIteration['usage']> &
    Pick<AgentIteration, 'rateLimit'>;
  acceptance: AcceptanceResult[];
}

/**
 * A run's log, also kept per iteration for the iteration's log artifact. Each
 * line comes whole from the drivers and is redacted before it is kept or sent.
 */
class RunLog {
  private current: string[] = [];
  private size = 0;
  private static readonly MAX_ITERATION_BYTES = 8 * 1024 * 1024;

  constructor(
    readonly buffer: LogBuffer,
    readonly redactor: Redactor,
  ) {}

  line(stream: LogStream, raw: string): void {
    // Before the buffer clips a long line: a secret across the cut would leave half of it.
    const text = this.redactor.text(raw);
    this.buffer.push(stream, text);
    if (this.size > RunLog.MAX_ITERATION_BYTES) return;
    const entry = `${new Date().toISOString()} ${stream} ${text}`;
    this.size += entry.length + 1;
    this.current.push(this.size > RunLog.MAX_ITERATION_BYTES ? '… (log clipped)' : entry);
  }

  /** The lines since the last call. */
  take(): string {
    const text = this.current.join('\n');
    this.current = [];
    this.size = 0;
    return text ? `${text}\n` : '';
  }
}

const MB = 1024 * 1024;

/**
 * Whether a run keeps artifacts: agent work does (a repository, acceptance
 * commands, iterations, a CLI agent). A plain run of shell steps does not: its
 * log and result are the run's own (GET /runs/:id/logs, the run's result), and
 * copies of them would double what every such run costs the control plane.
 */
export function keepsArtifacts(work: RunDispatched): boolean {
  const { spec } = work;
  return (
    spec.repo !== undefined ||
    spec.acceptance_commands.length > 0 ||
    spec.max_iterations > 1 ||
    isCliAgent(work.agent)
  );
}

function policyOf(spec: Pick<TaskSpec, 'allowed_paths' | 'forbidden_paths'>): WritePolicy {
  return { allowed: spec.allowed_paths, forbidden: spec.forbidden_paths };
}

function limitsOf(resources: Resources | undefined): Partial<SandboxLimits> | undefined {
  if (!resources) return undefined;
  const limits: Partial<SandboxLimits> = {};
  if (resources.memory_mb) limits.memoryBytes = resources.memory_mb * MB;
  if (resources.cpus) limits.nanoCpus = Math.round(resources.cpus * 1e9);
  if (resources.pids) limits.pids = resources.pids;
  if (resources.tmpfs_mb) limits.tmpfsBytes = resources.tmpfs_mb * MB;
  return limits;
}

/**
 * Executes one leased run (already granted to this runner): a fresh workspace
 * (the task's repository at `clone_branch`, or an empty one), then the
 * verification loop (the agent, then the acceptance commands; on a failure and
 * with iterations left, the agent again with the failure in its prompt), the
 * write policy checked on the diff, artifacts stored (each iteration's log,
 * the diff, result.json) and `push_branch` pushed on success. Output is
 * streamed as numbered log batches, flushed before the finish report.
 */
export class RunExecutor {
  private readonly logger = new Logger(RunExecutor.name);

  constructor(private readonly options: ExecutorOptions) {}

  /**
   * The run as one span, a child of its work message's: the sandbox's engine
   * calls, uploads and reports (whose handling continues the trace) hang off it.
   */
  execute(work: RunDispatched, signal: AbortSignal): Promise<AgentOutcome> {
    const attributes = {
      'drover.service': 'agent-runner',
      'drover.ticket_id': work.ticketId,
      'drover.task_id': work.taskId,
      'drover.run_id': work.runId,
      'drover.attempt': work.attempt,
      'drover.agent': work.agent,
    };
    return withSpan('execute run', { attributes }, async (span) => {
      const outcome = await this.executeRun(work, signal);
      span.setAttribute('drover.outcome', outcome.outcome);
      if (outcome.errorClass) span.setAttribute('drover.error_class', outcome.errorClass);
      return outcome;
    });
  }

  private async executeRun(work: RunDispatched, signal: AbortSignal): Promise<AgentOutcome> {
    const { reporter } = this.options;
    await mkdir(this.options.workdir, { recursive: true, mode: 0o700 });
    // Private to the runner; the workspace inside is opened to the sandbox user.
    const runDir = await mkdtemp(join(this.options.workdir, `run-${work.runId}-`));
    const redactor = new Redactor();
    const log = new RunLog(
      new LogBuffer((first, lines) => reporter.log(work, first, lines), this.options.logFlushMs),
      redactor,
    );
    const workspace: Workspace = {
      dir: join(runDir, 'workspace'),
      gitDir: join(runDir, 'git'),
      prepared: false,
    };
    const paths: RunPaths = { runDir, workspace: workspace.dir, gitDir: workspace.gitDir };
    let outcome: AgentOutcome;
    let volume: RunVolume | undefined;
    let egress: RunEgress | undefined;
    try {
      const { spec, secrets } = openSpecSecrets(work.spec, this.options.secretsKey);
      redactor.add(secrets);
      // Before anything is mounted or run: a task is never run with more than the runner allows.
      checkResourceCeilings(spec.resources, this.options.ceilings ?? {});
      volume = await mountRunDir(this.options.disk, runDir, spec.resources?.disk_mb, (text) =>
        log.line('system', text),
      );
      egress = await this.openEgress(work, spec, runDir, log);
      outcome = await this.run(work, spec, workspace, signal, log, egress);
    } catch (error) {
      outcome = this.crashed(work, error, signal, redactor, paths);
    }
    // Its commands have ended: nothing may use the proxy now, and its socket must go before the run's directory.
    await egress?.close();
    if (volume) outcome = await withinQuota(outcome, volume);
    // Before the finish report: the step that inherits the workspace may be dispatched on it.
    if (work.spec.keep_workspace && workspace.prepared && !signal.aborted) {
      await this.keepWorkspace(work, workspace, log, paths);
    }
    // Messages and results can quote output (a CLI agent's last words, a command).
    outcome = {
      ...outcome,
      errorMessage:
        outcome.errorMessage === null
          ? null
          : redactor.text(hideHostPaths(outcome.errorMessage, paths)),
      result: redactor.value(outcome.result),
      ...(outcome.input
        ? { input: { ...outcome.input, prompt: redactor.text(outcome.input.prompt) } }
        : {}),
    };
    log.line('system', outcome.errorMessage ?? `run ${outcome.outcome.toLowerCase()}`);
    await log.buffer.flush();
    await reporter.finished(work, outcome, new Date(), log.buffer.lineCount);
    await volume
      ?.release(this.options.keepWorkspaces)
      .catch((error: Error) =>
        this.logger.warn(`could not unmount the workspace of run ${work.runId}: ${error.message}`),
      );
    if (!this.options.keepWorkspaces) {
      await rm(runDir, { recursive: true, force: true }).catch((error: Error) =>
        this.logger.warn(`could not remove workspace ${runDir}: ${error.message}`),
      );
    }
    return outcome;
  }

  private async run(
    work: RunDispatched,
    spec: OpenedSpec,
    state: Workspace,
    signal: AbortSignal,
    log: RunLog,
    egress: RunEgress,
  ): Promise<AgentOutcome> {
    const started = Date.now();
    const workspace = state.dir;
    const { driver, ignored } = this.options.driver.forRun({
      runId: work.runId,
      image: spec.image,
      network: egress.network,
      limits: limitsOf(spec.resources),
    });
    if (!driver.isolated) log.line('system', `sandbox: ${driver.name} (NOT ISOLATED)`);
    if (ignored.length) {
      log.line('system', `sandbox: ${driver.name} ignores the task's ${ignored.join(', ')}`);
    }

    await mkdir(workspace);
    const base = await this.prepare(spec, state, signal, log);
    state.prepared = true;
    await makeOutputDir(workspace, base === null ? null : state.gitDir);
    // The sandbox's own .git: a copy the runner never reads again.
    if (await exists(state.gitDir)) await shareGitDir(state.gitDir, workspace);
    if (driver.isolated) await openToSandbox(workspace);
    const ctx: AgentContext = {
      workspace,
      driver,
      signal,
      log: (stream, text) => log.line(stream, text),
      env: {
        ...spec.env,
        ...spec.template_env,
        DROVER_RUN_ID: work.runId,
        DROVER_TASK_ID: work.taskId,
        DROVER_TICKET_ID: work.ticketId,
        DROVER_ATTEMPT: String(work.attempt),
      },
    };
    const context = spec.context_files?.length
      ? await readContextFiles(workspace, spec.context_files)
      : [];

    const { outcome: verified, iterations } = await this.verify(
      work,
      spec,
      ctx,
      { dir: workspace, gitDir: state.gitDir, base },
      context,
      log,
    );
    let outcome = verified;
    const output = await readJsonObject(workspace, OUTPUT_FILE, '$DROVER_OUTPUT');
    if (!output.ok && outcome.outcome === 'SUCCEEDED') {
      outcome = failure(null, 'AGENT_FAILED', output.message);
    }
    // A run that asks for input ends asking, whatever its last command's exit code.
    const request = await readJsonObject(workspace, REQUEST_FILE, '$DROVER_REQUEST');
    if (!request.ok) {
      outcome = failure(null, 'AGENT_FAILED', request.message);
    } else if (request.value && outcome.errorClass !== 'CANCELLED') {
      const ask = InputAsk.safeParse(request.value);
      outcome = ask.success
        ? {
            ...outcome,
            outcome: 'NEEDS_INPUT',
            errorClass: null,
            errorMessage: null,
            input: ask.data,
          }
        : failure(
            null,
            'AGENT_FAILED',
            `$DROVER_REQUEST (${REQUEST_FILE}): ${ask.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
          );
      if (ask.success) log.line('system', `the run asks for ${ask.data.name}: ${ask.data.prompt}`);
    }

    // What is kept (and pushed) is the workspace as the run leaves it.
    let changes: WorkspaceChange[] = [];
    if (base) {
      const diff = await this.diff({ dir: workspace, gitDir: state.gitDir }, base, log);
      changes = diff.files;
      await this.store(work, log, 'diff.patch', 'diff', diff.patch, 'text/x-diff; charset=utf-8');
      const breaches = checkWritePolicy(changes, policyOf(spec));
      if (outcome.outcome === 'SUCCEEDED' && breaches.length) {
        outcome = failure(null, 'POLICY_VIOLATION', describeBreaches(breaches));
      }
    }
    let pushed: { branch: string; commit: string } | null = null;
    if (outcome.outcome === 'SUCCEEDED' && spec.push_branch && spec.repo) {
      if (!base) {
        throw new InvalidSpecError('push_branch', 'the workspace it starts from holds no commit');
      }
      const { commit } = await commitAndPush({
        dir: workspace,
        gitDir: state.gitDir,
        base,
        repo: spec.repo,
        branch: spec.push_branch,
        message: `drover: ${work.agent} run ${work.runId} (task ${work.taskId})`,
        policy: this.options.sources,
        signal,
        timeoutMs: this.options.gitTimeoutMs,
      });
      pushed = { branch: spec.push_branch, commit };
      log.line('system', `pushed ${commit} to ${spec.push_branch}`);
    }

    const sum = (key: 'costUsd' | 'inputTokens' | 'outputTokens') => {
      const values = iterations
        .map((i) => i.agent[key])
        .filter((v): v is number => typeof v === 'number');
      return values.length ? values.reduce((a, b) => a + b, 0) : null;
    };
    const summary = {
      agent: work.agent,
      model: spec.model ?? null,
      outcome: outcome.outcome,
      errorClass: outcome.errorClass,
      baseCommit: base,
      iterations: iterations.length,
      acceptancePassed: outcome.outcome === 'SUCCEEDED',
      filesChanged: changes,
      durationMs: Date.now() - started,
      costUsd: sum('costUsd'),
      inputTokens: sum('inputTokens'),
      outputTokens: sum('outputTokens'),
      pushed,
      /** Why a RATE_LIMITED run's retry waits: the provider's stated retry-after (ms), if any. */
      rateLimit:
        outcome.errorClass === 'RATE_LIMITED'
          ? { retryAfterMs: outcome.retryAfterMs ?? null }
          : null,
      sandbox: { driver: driver.name, image: spec.image ?? null },
      egress: egress.summary(),
      /** What the run left in $DROVER_OUTPUT, for the steps after it (`{{steps.<key>.output...}}`). */
      output: output.ok ? output.value : null,
    };
    const details = log.redactor.value({ ...summary, iterationDetails: iterations });
    await this.store(
      work,
      log,
      'result.json',
      'result',
      `${JSON.stringify({ runId: work.runId, taskId: work.taskId, attempt: work.attempt, ...details }, null, 2)}\n`,
      'application/json',
    );
    return { ...outcome, result: summary };
  }

  /**
   * The verification loop: the agent, its changes checked against the write
   * policy, then the acceptance commands; on a failure with iterations left, the
   * agent again with the failure in its prompt. Each iteration's log is stored.
   */
  private async verify(
    work: RunDispatched,
    spec: OpenedSpec,
    ctx: AgentContext,
    checkout: Checkout & { base: string | null },
    context: readonly { path: string; text: string }[],
    log: RunLog,
  ): Promise<{ outcome: AgentOutcome; iterations: IterationRecord[] }> {
    const iterations: IterationRecord[] = [];
    const feedback: string[] = [];
    for (let iteration = 1; ; iteration++) {
      log.line('system', `iteration ${iteration} of ${spec.max_iterations}`);
      const agent = await runAgentOnce(work.agent, spec, ctx, {
        prompt: composePrompt(spec, context, feedback),
        iteration,
        providerEnv: this.options.providerEnv,
        providerEndpoints: this.options.providerEndpoints ?? {},
      });
      const record: IterationRecord = {
        iteration,
        agent: {
          exitCode: agent.exitCode,
          durationMs: agent.durationMs,
          ...agent.usage,
          ...(agent.rateLimit ? { rateLimit: agent.rateLimit } : {}),
        },
        acceptance: [],
      };
      iterations.push(record);
      let outcome: AgentOutcome | undefined = agent.failed;
      const breaches = outcome ? [] : await this.breaches(checkout, spec, log);
      if (breaches.length) {
        // The agent's changes are checked before anything else runs on them.
        outcome = failure(null, 'POLICY_VIOLATION', describeBreaches(breaches));
      } else if (!outcome) {
        const round = await runAcceptance(spec.acceptance_commands, ctx, iteration);
        record.acceptance = round.results;
        if (round.aborted) {
          outcome = stopped('acceptance', null, ctx.signal.reason);
        } else if (!round.failed) {
          outcome = succeeded();
        } else if (iteration >= spec.max_iterations) {
          const { command } = round.failed.result;
          outcome = failure(
            round.failed.result.exitCode,
            'ACCEPTANCE_FAILED',
            `acceptance failed after ${iteration} iteration${iteration > 1 ? 's' : ''}: ` +
              `\`${command.split('\n')[0].slice(0, 200)}\` ${exitText(round.failed.result)}`,
          );
        } else {
          feedback.push(failureFeedback(iteration, round.failed));
        }
      }
      const text = log.take();
      await this.store(
        work,
        log,
        `iteration-${iteration}.log`,
        'log',
        text,
        'text/plain; charset=utf-8',
      );
      if (outcome) return { outcome, iterations };
    }
  }

  /** Paths the agent changed that the task's write policy does not allow. */
  private async breaches(
    checkout: Checkout & { base: string | null },
    spec: TaskSpec,
    log: RunLog,
  ) {
    const { base } = checkout;
    if (!base || (!spec.allowed_paths && !spec.forbidden_paths)) return [];
    const { files } = await this.diff(checkout, base, log);
    return checkWritePolicy(files, policyOf(spec));
  }

  /** The workspace's diff against `base`, telling the log of nested `.git` it removed. */
  private async diff(checkout: Checkout, base: string, log: RunLog) {
    const diff = await diffWorkspace(checkout, base);
    if (diff.nested.length) {
      log.line('system', `removed nested .git from the workspace: ${diff.nested.join(', ')}`);
    }
    return diff;
  }

  /**
   * The workspace's starting commit: the task's repository at its ref. A task
   * without a repository gets an empty directory, and no diff. A task that
   * inherits the workspace of an upstream run starts from its snapshot instead.
   */
  private async prepare(
    spec: TaskSpec,
    { dir: workspace, gitDir }: Workspace,
    signal: AbortSignal,
    log: RunLog,
  ): Promise<string | null> {
    if (spec.workspace_run) {
      return this.restore(spec.workspace_run, { dir: workspace, gitDir }, signal, log);
    }
    if (!spec.repo) return null;
    const ref = spec.clone_branch ?? 'HEAD';
    log.line('system', `fetching ${spec.repo} at ${ref}`);
    const { commit } = await prepareWorkspace({
      repo: spec.repo,
      ref,
      dir: workspace,
      gitDir,
      policy: this.options.sources,
      signal,
      timeoutMs: this.options.gitTimeoutMs,
    });
    log.line('system', `workspace at ${commit}`);
    return commit;
  }

  /**
   * Restores run `from`'s snapshot into the empty `workspace`: the repository is
   * not fetched again (the snapshot holds the checkout and, as `.git`, the
   * upstream runner's git dir, which moves to `gitDir`), and the starting commit
   * is its HEAD, so the diff and the push carry the upstream's changes.
   */
  private async restore(
    from: string,
    { dir: workspace, gitDir }: Checkout,
    signal: AbortSignal,
    log: RunLog,
  ): Promise<string | null> {
    log.line('system', `restoring the workspace of run ${from}`);
    const file = join(dirname(workspace), `restore-${SNAPSHOT_ARTIFACT}`);
    const opts = { signal, timeoutMs: this.options.gitTimeoutMs };
    try {
      await downloadSnapshot(this.options.artifacts, from, file);
      const { entries } = await restoreWorkspace(file, workspace, opts).catch(aboutRun(from));
      log.line('system', `restored ${entries} entries`);
    } finally {
      await rm(file, { force: true });
    }
    // What the upstream run left for its own steps is not this run's output or request.
    await rm(join(workspace, OUTPUT_DIR), { recursive: true, force: true });
    const head = await snapshotHead(workspace, gitDir).catch(aboutRun(from));
    log.line('system', head ? `workspace at ${head}` : 'the workspace holds no commit: no diff');
    return head;
  }

  /**
   * Stores the workspace as the run leaves it (SNAPSHOT_ARTIFACT, even for a
   * plain run), for the step that inherits it. A tarball cannot be redacted:
   * secrets the run wrote into files are in it, as they are in the workspace,
   * and the artifact store holds them. A snapshot that is too large, that the
   * restoring runner would refuse, or that cannot be stored is logged and left
   * out: this run's outcome stands, and the inheriting step fails to restore.
   * The snapshot's `.git` is the runner's git dir, in place of the sandbox's
   * copy; a run without one keeps its agent's `.git` if it is a plain one.
   */
  private async keepWorkspace(
    work: RunDispatched,
    { dir: workspace, gitDir }: Workspace,
    log: RunLog,
    paths: RunPaths,
  ): Promise<void> {
    const file = join(dirname(workspace), SNAPSHOT_ARTIFACT);
    const opts = { timeoutMs: this.options.gitTimeoutMs };
    try {
      if (await exists(gitDir)) await shareGitDir(gitDir, workspace, true);
      else if (await exists(join(workspace, '.git'))) {
        await checkGitDir(join(workspace, '.git'), "the workspace's .git");
      }
      const { size } = await snapshotWorkspace(workspace, file, opts);
      await checkSnapshot(file, opts);
      const body = await readFile(file);
      const meta = await this.options.artifacts.put(
        work.runId,
        SNAPSHOT_ARTIFACT,
        body,
        SNAPSHOT_CONTENT_TYPE,
      );
      await this.options.reporter.artifact(work, { ...meta, kind: 'file' });
      log.line('system', `kept the workspace as ${SNAPSHOT_ARTIFACT} (${size} bytes)`);
    } catch (error) {
      const message = log.redactor.text(hideHostPaths((error as Error).message, paths));
      log.line('system', `the workspace was not kept: ${message}`);
      this.logger.warn(`run ${work.runId}: the workspace was not kept: ${message}`);
    } finally {
      await rm(file, { force: true });
    }
  }

  /** Stores an artifact of an agent run, its secrets redacted, and reports it; plain runs keep none. */
  private async store(
    work: RunDispatched,
    log: RunLog,
    name: string,
    kind: ArtifactKind,
    body: string,
    contentType: string,
  ): Promise<void> {
    if (!keepsArtifacts(work)) return;
    const text = log.redactor.text(body);
    const meta = await this.options.artifacts.put(work.runId, name, text, contentType);
    await this.options.reporter.artifact(work, { ...meta, kind });
  }

  /** The run's egress as its task's policy (or its agent's default) says; see openEgress. */
  private openEgress(work: RunDispatched, spec: TaskSpec, runDir: string, log: RunLog) {
    return openEgress(
      {
        agent: work.agent,
        model: spec.model,
        network: taskNetwork(work.agent, spec.network),
        runDir,
        isolated: this.options.driver.isolated,
        providerEnv: this.options.providerEnv,
        log: (text) => log.line('system', text),
      },
      {
        endpoints: this.options.providerEndpoints ?? {},
        allowPrivate: this.options.sources.allowPrivateHosts,
      },
    );
  }

  /** The outcome of a run that threw: the task's fault, a stop, or the machinery's. */
  private crashed(
    work: RunDispatched,
    error: unknown,
    signal: AbortSignal,
    redactor: Redactor,
    paths: RunPaths,
  ): AgentOutcome {
    if (error instanceof InvalidSpecError) return failure(null, 'INVALID_SPEC', error.message);
    // What the run left in its workspace: its own doing, not the runner's.
    if (error instanceof WorkTreeError) return failure(null, 'AGENT_FAILED', error.message);
    // The task's own image: its author's mistake. The runner's default: this runner's.
    if (error instanceof ImageMissingError && error.image === work.spec.image) {
      return failure(
        null,
        'INVALID_SPEC',
        `image: ${error.image} is not on the runner's engine (runners never pull images)`,
      );
    }
    // As with a missing image: the task's own image is its author's to fix.
    if (error instanceof EgressUnavailableError) {
      const own = error.image === work.spec.image;
      return failure(
        null,
        own ? 'INVALID_SPEC' : 'INFRA',
        own ? `image: ${error.message}` : error.message,
      );
    }
    if (error instanceof GitError && error.reason === 'aborted' && signal.aborted) {
      return stopped('git', null, signal.reason);
    }
    // Its container removed by the watchdog, whether or not the runner has noticed yet.
    if (error instanceof LeaseLapsedError) return stopped('the command', null, 'LEASE_LOST');
    if (error instanceof SnapshotError) {
      if (error.reason === 'aborted' && signal.aborted) {
        return stopped('restoring the workspace', null, signal.reason);
      }
      const message = redactor.text(hideHostPaths(error.message, paths));
      this.logger.error(`run ${work.runId}: ${message}`);
      return failure(null, 'INFRA', message);
    }
    const message = redactor.text(hideHostPaths((error as Error).message, paths));
    this.logger.error(`run ${work.runId} failed in the runner: ${message}`);
    return failure(null, 'INFRA', `runner error: ${message}`);
  }
}

/** Largest output a run may leave: it travels in the run's finish report and is stored with the run. */
export const MAX_OUTPUT_BYTES = 64 * 1024;

/**
 * The directory a run's output goes to (`$DROVER_OUTPUT`), kept out of the
 * repository's diff and commits by the exclude file of its git dir, if any.
 */
async function makeOutputDir(workspace: string, gitDir: string | null): Promise<void> {
  await mkdir(join(workspace, OUTPUT_DIR), { recursive: true });
  if (!gitDir) return;
  await mkdir(join(gitDir, 'info'), { recursive: true });
  await appendFile(join(gitDir, 'info', 'exclude'), `\n/${OUTPUT_DIR}/\n`);
}

/** Whether something is at `path` (a link counts; it is not followed). */
async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => null)) !== null;
}

/**
 * The JSON object a run left at `file` in its workspace (`what`: the variable
 * that names it): null when it left none, an error when it left something else
 * (not JSON, not an object, too large, a link).
 */
async function readJsonObject(
  workspace: string,
  file: string,
  what: string,
): Promise<{ ok: true; value: Record<string, unknown> | null } | { ok: false; message: string }> {
  // Neither the directory nor the file may be a link: the run must not make the runner read its host.
  const dir = await lstat(join(workspace, OUTPUT_DIR)).catch(() => null);
  if (dir && !dir.isDirectory()) {
    return { ok: false, message: `${OUTPUT_DIR} in the workspace is not a directory` };
  }
  const path = join(workspace, file);
  const info = dir ? await lstat(path).catch(() => null) : null;
  if (!info) return { ok: true, value: null };
  const where = `${what} (${file})`;
  if (!info.isFile()) return { ok: false, message: `${where} is not a file` };
  if (info.size > MAX_OUTPUT_BYTES) {
    return {
      ok: false,
      message: `${where} is ${info.size} bytes; at most ${MAX_OUTPUT_BYTES} are kept`,
    };
  }
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    return { ok: false, message: `${where} is not JSON: ${(error as Error).message}` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, message: `${where} must hold a JSON object` };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

/**
 * Lets the sandbox's user (not the runner's) write the workspace: every file and
 * directory becomes writable by all, which git does not record (only the
 * executable bit). The run directory around it stays private to the runner.
 */
async function openToSandbox(dir: string): Promise<void> {
  await chmod(dir, 0o777);
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isSymbolicLink()) continue;
    const path = join(entry.parentPath, entry.name);
    const { mode } = await lstat(path);
    const open = entry.isDirectory() || mode & 0o100 ? 0o777 : 0o666;
    await chmod(path, (mode & 0o7777) | open);
  }
}
