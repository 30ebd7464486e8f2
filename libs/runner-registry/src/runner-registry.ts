import { Logger } from '@nestjs/common';
import {
  Subjects,
  type DeregisterRunner,
  type RegisterRunner,
  type RunnerHeartbeat,
  type RunnerStatus,
} from '@drover/contracts';
import type { PrismaClient, Tx } from '@drover/db';
import { appendToOutbox, type OutboxMessage } from '@drover/events';

function runnerChanged(
  runner: { id: string; name: string },
  status: RunnerStatus,
  previous: RunnerStatus | null,
): OutboxMessage {
  return {
    subject: Subjects.runnerChanged,
    data: { runnerId: runner.id, name: runner.name, status, previous },
  };
}

interface Beat {
  at: Date;
  freeSlots: number;
}

/**
 * The runner fleet as Postgres sees it. Heartbeats arrive at a high rate and are
 * buffered in memory, then written for every runner at once in one statement per
 * `flush`; stale detection is one statement for the whole fleet.
 */
export class RunnerRegistry {
  private readonly logger = new Logger(RunnerRegistry.name);
  private beats = new Map<string, Beat>();

  constructor(
    private readonly prisma: PrismaClient,
    private readonly staleAfterIntervals: number,
  ) {}

  async register(input: RegisterRunner): Promise<void> {
    await this.prisma.$transaction(async (tx) => {
      const [previous] = await tx.$queryRaw<{ status: RunnerStatus }[]>`
        SELECT status FROM runner WHERE id = ${input.runnerId} FOR UPDATE`;
      await tx.runner.upsert({
        where: { id: input.runnerId },
        create: {
          id: input.runnerId,
          name: input.name,
          slots: input.slots,
          freeSlots: input.slots,
          capabilities: input.capabilities,
          heartbeatIntervalMs: input.heartbeatIntervalMs,
        },
        update: {
          name: input.name,
          slots: input.slots,
          freeSlots: input.slots,
          capabilities: input.capabilities,
          heartbeatIntervalMs: input.heartbeatIntervalMs,
          status: 'ONLINE',
          registeredAt: new Date(),
          lastHeartbeatAt: new Date(),
        },
      });
      await appendToOutbox(tx, [
        runnerChanged({ id: input.runnerId, name: input.name }, 'ONLINE', previous?.status ?? null),
      ]);
    });
    this.logger.log(`runner ${input.runnerId} registered with ${input.slots} slots`);
  }

  async deregister(input: DeregisterRunner): Promise<boolean> {
    return this.prisma.$transaction(async (tx) => {
      const [runner] = await tx.$queryRaw<{ id: string; name: string; status: RunnerStatus }[]>`
        SELECT id, name, status FROM runner WHERE id = ${input.runnerId} FOR UPDATE`;
      if (!runner || runner.status === 'OFFLINE') return false;
      await tx.runner.update({
        where: { id: runner.id },
        data: { status: 'OFFLINE', freeSlots: 0 },
      });
      await appendToOutbox(tx, [runnerChanged(runner, 'OFFLINE', runner.status)]);
      this.beats.delete(runner.id);
      return true;
    });
  }

  /** Buffers a heartbeat; the newest per runner wins. */
  recordHeartbeat(beat: RunnerHeartbeat): void {
    const at = new Date(beat.sentAt);
    const current = this.beats.get(beat.runnerId);
    if (!current || current.at <= at)
      this.beats.set(beat.runnerId, { at, freeSlots: beat.freeSlots });
  }

  /**
   * Writes buffered heartbeats in one statement. A STALE runner that beats again
   * is ONLINE again; OFFLINE runners stay offline until they register.
   */
  async flushHeartbeats(): Promise<number> {
    if (!this.beats.size) return 0;
    const beats = this.beats;
    this.beats = new Map();
    const ids = [...beats.keys()];
    const ats = ids.map((id) => (beats.get(id) as Beat).at.toISOString());
    const free = ids.map((id) => (beats.get(id) as Beat).freeSlots);
    return this.prisma.$transaction(async (tx) => {
      const updated = await tx.$queryRaw<
        { id: string; name: string; was: RunnerStatus; now: RunnerStatus }[]
      >`
        WITH b AS (
          SELECT * FROM unnest(${ids}::text[], ${ats}::timestamptz[], ${free}::int[]) AS b(id, at, free)),
        old AS (
          SELECT r.id, r.status FROM runner r JOIN b ON b.id = r.id
          WHERE r.status <> 'OFFLINE' FOR UPDATE OF r)
        UPDATE runner r SET
          last_heartbeat_at = GREATEST(r.last_heartbeat_at, b.at),
          free_slots = b.free,
          -- Only a heartbeat fresh enough to count revives a STALE runner; a late,
          -- old one must not flip it back and forth.
          status = CASE
            WHEN b.at > now() - make_interval(secs => r.heartbeat_interval_ms * ${this.staleAfterIntervals} / 1000.0)
            THEN 'ONLINE'::"RunnerStatus" ELSE r.status END
        FROM b, old
        WHERE r.id = b.id AND old.id = r.id
        RETURNING r.id, r.name, old.status AS was, r.status AS now`;
      const back = updated.filter((r) => r.was === 'STALE' && r.now === 'ONLINE');
      await appendToOutbox(
        tx,
        back.map((r) => runnerChanged(r, 'ONLINE', 'STALE')),
      );
      return ids.length;
    });
  }

  /** Marks ONLINE runners that missed `staleAfterIntervals` heartbeats as STALE. */
  async markStale(tx?: Tx): Promise<string[]> {
    const run = async (db: Tx) => {
      const stale = await db.$queryRaw<{ id: string; name: string }[]>`
        UPDATE runner SET status = 'STALE'
        WHERE status = 'ONLINE'
          AND last_heartbeat_at < now() - make_interval(secs => heartbeat_interval_ms * ${this.staleAfterIntervals} / 1000.0)
        RETURNING id, name`;
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
