import { Logger } from '@nestjs/common';
import {
  Subjects,
  type DeregisterRunner,
  type HeartbeatReply,
  type RegisterRunner,
  type RegistryReply,
  type RunnerHeartbeat,
  type RunnerStatus,
} from '@drover/contracts';
import { Prisma, retryTransient, type PrismaClient, type Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';

/** What a runner's announcements name: a project's own runner is shown only on its stream. */
interface AnnouncedRunner {
  id: string;
  name: string;
  project_id: string | null;
}

function runnerChanged(
  runner: AnnouncedRunner,
  status: RunnerStatus,
  previous: RunnerStatus | null,
): OutboxMessage {
  return {
    subject: Subjects.runnerChanged,
    projectId: runner.project_id,
    data: { runnerId: runner.id, name: runner.name, status, previous },
  };
}

/**
 * Ends the leases of a runner's runs now, so the reconciler ends them RUNNER_LOST
 * and they are retried: the runner went STALE, left, or restarted and lost them.
 * A run another transaction holds is skipped (the health monitor never waits for
 * a run row; see `heartbeats`): it is being ended or started right now, and a
 * lease that is not renewed runs out on its own.
 */
async function expireLeasesOf(db: Tx, runnerIds: readonly string[]): Promise<number> {
  if (!runnerIds.length) return 0;
  return db.$executeRaw`
    WITH due AS (
      SELECT id FROM run
      WHERE runner_id = ANY(${runnerIds}::text[]) AND status = 'RUNNING'
        AND (lease_expires_at IS NULL OR lease_expires_at > now())
      ORDER BY id FOR NO KEY UPDATE SKIP LOCKED)
    UPDATE run SET lease_expires_at = now() FROM due WHERE run.id = due.id`;
}

/** A run a heartbeat says its runner holds. */
interface HeldRun {
  runId: string;
  leaseToken: string;
  runnerId: string;
}

/**
 * The runner fleet as Postgres sees it. Heartbeats are written for every runner
 * that beat at about the same time in one transaction (`heartbeats`), which also
 * renews the leases of the runs each runner says it still runs; stale detection
 * is one statement for the whole fleet.
 */
export class RunnerRegistry {
  private readonly logger = new Logger(RunnerRegistry.name);
  /** Skipped lease renewals waiting for their run (see `renewLater`), by run id. */
  private readonly toRenew = new Map<string, HeldRun>();
  private renewing: Promise<void> | undefined;

  /** `staleAfterIntervals`: a runner missing this many heartbeats is STALE; its leases last as long. */
  constructor(
    private readonly prisma: PrismaClient,
    private readonly staleAfterIntervals: number,
  ) {}

  /**
   * Registers a runner, ONLINE, in the pool it asks for: the shared one, or the
   * own pool of the project it names (whose id the reply carries). A project that
   * does not exist is refused, and nothing is written.
   */
  async register(input: RegisterRunner): Promise<RegistryReply> {
    const reply = await this.prisma.$transaction(async (tx): Promise<RegistryReply> => {
      const project = input.project
        ? await tx.project.findUnique({ where: { slug: input.project }, select: { id: true } })
        : null;
      if (input.project && !project) {
        return { ok: false, message: `project "${input.project}" does not exist` };
      }
      const projectId = project?.id ?? null;
      const [previous] = await tx.$queryRaw<{ status: RunnerStatus }[]>`
        SELECT status FROM runner WHERE id = ${input.runnerId} FOR UPDATE`;
      const fields = {
        name: input.name,
        slots: input.slots,
        freeSlots: input.slots,
        capabilities: input.capabilities,
        heartbeatIntervalMs: input.heartbeatIntervalMs,
        projectId,
        // A runner that names no images runs any (the process driver has none to name).
        images: input.images ?? Prisma.DbNull,
      };
      await tx.runner.upsert({
        where: { id: input.runnerId },
        create: { id: input.runnerId, ...fields },
        update: {
          ...fields,
          status: 'ONLINE',
          registeredAt: new Date(),
          lastHeartbeatAt: new Date(),
        },
      });
      // A runner that registers has just started: whatever its earlier self ran is gone.
      const lost = await expireLeasesOf(tx, [input.runnerId]);
      if (lost) {
        this.logger.warn(`runner ${input.runnerId} restarted: ${lost} of its runs will be retried`);
      }
      await appendToOutbox(tx, [
        runnerChanged(
          { id: input.runnerId, name: input.name, project_id: projectId },
          'ONLINE',
          previous?.status ?? null,
        ),
      ]);
      return projectId ? { ok: true, projectId } : { ok: true };
    });
    if (!reply.ok) {
      this.logger.warn(`runner ${input.runnerId} refused: ${reply.message}`);
      return reply;
    }
    const pool = input.project ? `the pool of project ${input.project}` : 'the shared pool';
    this.logger.log(`runner ${input.runnerId} registered with ${input.slots} slots in ${pool}`);
    return reply;
  }

  async deregister(input: DeregisterRunner): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const [runner] = await tx.$queryRaw<(AnnouncedRunner & { status: RunnerStatus })[]>`
        SELECT id, name, status, project_id FROM runner WHERE id = ${input.runnerId} FOR UPDATE`;
      if (!runner || runner.status === 'OFFLINE') return false;
      await tx.runner.update({
        where: { id: runner.id },
        data: { status: 'OFFLINE', freeSlots: 0 },
      });
      await expireLeasesOf(tx, [runner.id]);
      await appendToOutbox(tx, [runnerChanged(runner, 'OFFLINE', runner.status)]);
      return true;
    });
  }

  /**
   * Writes heartbeats that arrived together in one transaction and answers each.
   * A STALE runner that beats again is ONLINE again; OFFLINE or unknown runners
   * are told to register. Each listed run's lease is renewed when it is still
   * RUNNING on that runner under that token; the others are named in the reply
   * as revoked, and the runner must stop them.
   */
  async heartbeats(beats: readonly RunnerHeartbeat[]): Promise<HeartbeatReply[]> {
    if (!beats.length) return [];
    // The newest beat per runner counts.
    const newest = new Map<string, RunnerHeartbeat>();
    for (const beat of beats) {
      const current = newest.get(beat.runnerId);
      if (!current || current.sentAt <= beat.sentAt) newest.set(beat.runnerId, beat);
    }
    const latest = [...newest.values()];
    // A deadlock or serialization failure is no sign of a dead runner: write again.
    const { registered, held, skipped, leaseMs } = await retryTransient(() =>
      this.prisma.$transaction((tx) => this.writeBeats(tx, latest)),
    );
    this.renewLater(skipped);
    return beats.map((beat) => ({
      registered: registered.has(beat.runnerId),
      revoked: beat.activeRuns.map((r) => r.runId).filter((id) => !held.has(id)),
      ...(leaseMs.has(beat.runnerId) ? { leaseMs: leaseMs.get(beat.runnerId) } : {}),
    }));
  }

  /**
   * Lock order: runner rows in id order, then run rows in id order, skipping any
   * run another transaction holds. The orchestrator locks the runs it ends in
   * the order its reports come, so waiting for one here could close a cycle; a
   * run it holds is still held (not revoked) until a committed change says
   * otherwise, and is renewed after the commit (`renewLater`).
   */
  private async writeBeats(tx: Tx, latest: readonly RunnerHeartbeat[]) {
    const updated = await tx.$queryRaw<
      (AnnouncedRunner & { was: RunnerStatus; now: RunnerStatus; interval: number })[]
    >`
      WITH b AS (
        SELECT * FROM unnest(${latest.map((b) => b.runnerId)}::text[],
                             ${latest.map((b) => b.sentAt)}::timestamptz[],
                             ${latest.map((b) => b.freeSlots)}::int[]) AS b(id, at, free)),
      old AS (
        SELECT r.id, r.status FROM runner r JOIN b ON b.id = r.id
        WHERE r.status <> 'OFFLINE' ORDER BY r.id FOR NO KEY UPDATE OF r)
      UPDATE runner r SET
        last_heartbeat_at = GREATEST(r.last_heartbeat_at, LEAST(b.at, now())),
        free_slots = b.free,
        -- Only a heartbeat fresh enough to count revives a STALE runner; a late,
        -- old one must not flip it back and forth.
        status = CASE
          WHEN b.at > now() - make_interval(secs => r.heartbeat_interval_ms * ${this.staleAfterIntervals} / 1000.0)
          THEN 'ONLINE'::"RunnerStatus" ELSE r.status END
      FROM b, old
      WHERE r.id = b.id AND old.id = r.id
      RETURNING r.id, r.name, r.project_id, old.status AS was, r.status AS now,
                r.heartbeat_interval_ms AS interval`;
    await this.writeImages(
      tx,
      latest.filter((b) => updated.some((r) => r.id === b.runnerId)),
    );
    const back = updated.filter((r) => r.was === 'STALE' && r.now === 'ONLINE');
    await appendToOutbox(
      tx,
      back.map((r) => runnerChanged(r, 'ONLINE', 'STALE')),
    );
    const runs = latest.flatMap((b) => b.activeRuns.map((r) => ({ ...r, runnerId: b.runnerId })));
    const leases = runs.length ? await this.renewLeases(tx, runs) : [];
    const skipped = new Set(leases.filter((l) => !l.renewed).map((l) => l.id));
    return {
      registered: new Set(updated.map((r) => r.id)),
      held: new Set(leases.map((l) => l.id)),
      skipped: runs.filter((r) => skipped.has(r.runId)),
      // Only an ONLINE runner's leases are renewed (see renewLeases).
      leaseMs: new Map(
        updated
          .filter((r) => r.now === 'ONLINE')
          .map((r) => [r.id, r.interval * this.staleAfterIntervals]),
      ),
    };
  }

  /**
   * Stores the images of the runners whose heartbeat lists them (only when they
   * changed: rare), in id order; their rows are already locked by this transaction.
   */
  private async writeImages(tx: Tx, beats: readonly RunnerHeartbeat[]): Promise<void> {
    const listed = beats
      .filter((b) => b.images !== undefined)
      .sort((a, b) => (a.runnerId < b.runnerId ? -1 : 1));
    for (const beat of listed) {
      await tx.$executeRaw`
        UPDATE runner SET images = ${JSON.stringify(beat.images)}::jsonb WHERE id = ${beat.runnerId}`;
    }
  }

  /**
   * Renews, in the background and one at a time, the leases the heartbeat's
   * transaction skipped because another transaction held their runs (a log or
   * finish batch). Each is a statement of its own, which may wait for that row
   * but holds no other lock meanwhile, so it cannot close a deadlock; and no
   * heartbeat waits for it, so a long batch never delays heartbeats (which
   * would make live runners STALE). A run that ended meanwhile is left alone.
   */
  private renewLater(runs: readonly HeldRun[]): void {
    for (const run of runs) this.toRenew.set(run.runId, run);
    if (!this.toRenew.size) return;
    this.renewing ??= this.renewQueued().finally(() => (this.renewing = undefined));
  }

  private async renewQueued(): Promise<void> {
    // A Map visits entries added while it is iterated: runs queued meanwhile are renewed too.
    for (const [runId, run] of this.toRenew) {
      this.toRenew.delete(runId);
      await this.renewOne(run).catch((error: Error) =>
        this.logger.warn(`run ${runId}: renewing its lease failed: ${error.message}`),
      );
    }
  }

  private renewOne(r: HeldRun): Promise<number> {
    return this.prisma.$executeRaw`
      UPDATE run SET lease_expires_at = GREATEST(run.lease_expires_at,
        now() + make_interval(secs => rn.heartbeat_interval_ms * ${this.staleAfterIntervals} / 1000.0))
      FROM runner rn
      WHERE run.id = ${r.runId}::uuid AND run.lease_token = ${r.leaseToken}::uuid
        AND run.runner_id = ${r.runnerId} AND run.status = 'RUNNING'
        AND rn.id = run.runner_id AND rn.status = 'ONLINE'`;
  }

  /**
   * Renews the leases of the listed runs still RUNNING under that token on that
   * ONLINE runner; returns those runs, and whether each was renewed now or
   * skipped because another transaction holds it.
   */
  private renewLeases(tx: Tx, runs: readonly HeldRun[]) {
    return tx.$queryRaw<{ id: string; renewed: boolean }[]>`
      WITH b AS (
        SELECT * FROM unnest(${runs.map((r) => r.runId)}::uuid[], ${runs.map((r) => r.leaseToken)}::uuid[],
                             ${runs.map((r) => r.runnerId)}::text[]) AS b(run_id, token, runner_id)),
      held AS (
        SELECT r.id FROM run r JOIN b ON r.id = b.run_id AND r.lease_token = b.token
          AND r.runner_id = b.runner_id
        JOIN runner rn ON rn.id = b.runner_id AND rn.status = 'ONLINE'
        WHERE r.status = 'RUNNING'),
      locked AS (
        SELECT r.id, rn.heartbeat_interval_ms FROM run r JOIN b ON r.id = b.run_id
          AND r.lease_token = b.token AND r.runner_id = b.runner_id
        JOIN runner rn ON rn.id = b.runner_id AND rn.status = 'ONLINE'
        WHERE r.status = 'RUNNING'
        ORDER BY r.id FOR NO KEY UPDATE OF r SKIP LOCKED),
      renewed AS (
        UPDATE run r SET lease_expires_at = GREATEST(r.lease_expires_at,
          now() + make_interval(secs => locked.heartbeat_interval_ms * ${this.staleAfterIntervals} / 1000.0))
        FROM locked WHERE r.id = locked.id
        RETURNING r.id)
      SELECT id, bool_or(renewed) AS renewed
      FROM (SELECT id, false AS renewed FROM held UNION ALL SELECT id, true FROM renewed) l
      GROUP BY id`;
  }

  /**
   * Marks ONLINE runners that missed `staleAfterIntervals` heartbeats as STALE and
   * ends their leases. `blindAt`: the last moment the monitor could not receive or
   * record heartbeats (its own start, a broker or database outage); a runner is
   * judged only on a window of heartbeats that lies wholly after it.
   */
  async markStale(blindAt: Date = new Date(0), tx?: Tx): Promise<string[]> {
    const run = async (db: Tx) => {
      // In id order, as heartbeats lock them; a runner whose heartbeat is being
      // written right now is skipped: it is not silent.
      const stale = await db.$queryRaw<AnnouncedRunner[]>`
        WITH due AS (
          SELECT id FROM runner
          WHERE status = 'ONLINE'
            AND last_heartbeat_at < now() - make_interval(secs => heartbeat_interval_ms * ${this.staleAfterIntervals} / 1000.0)
            -- Only if the monitor could have seen those heartbeats.
            AND ${blindAt}::timestamptz < now() - make_interval(secs => heartbeat_interval_ms * ${this.staleAfterIntervals} / 1000.0)
          ORDER BY id FOR NO KEY UPDATE SKIP LOCKED)
        UPDATE runner SET status = 'STALE' FROM due WHERE runner.id = due.id
        RETURNING runner.id, runner.name, runner.project_id`;
      // Its runs' leases expire with it: the reconciler retries them elsewhere.
      await expireLeasesOf(
        db,
        stale.map((r) => r.id),
      );
      await appendToOutbox(
        db,
        stale.map((r) => runnerChanged(r, 'STALE', 'ONLINE')),
      );
      for (const r of stale)
        this.logger.warn(`runner ${r.id} is STALE (missed ${this.staleAfterIntervals} heartbeats)`);
      return stale.map((r) => r.id);
    };
    return tx ? run(tx) : this.prisma.$transaction(run);
  }
}
