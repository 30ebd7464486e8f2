import type { PrismaClient } from '@drover/db';
import { PublicEvents, type PublicEventType, type StreamEvent } from '@drover/contracts';

/** An event of the log with the project whose stream shows it (null: every project's). */
export type LoggedEvent = StreamEvent & { projectId: string | null };

const typeBySubject = new Map<string, PublicEventType>(
  Object.entries(PublicEvents).map(([type, def]) => [def.subject, type as PublicEventType]),
);

/** Reads the public event log in sequence order. */
export class EventLog {
  constructor(private readonly prisma: PrismaClient) {}

  /**
   * The highest sequence given so far (0 when none was): the high-water mark,
   * committed with the events it numbered; never lower after events are deleted.
   */
  async head(): Promise<number> {
    const [row] = await this.prisma.$queryRaw<
      { s: bigint | null }[]
    >`SELECT last_seq AS s FROM event_sequence WHERE id = 1`;
    return Number(row?.s ?? 0);
  }

  /**
   * Reads up to `limit` log entries with `seq > since` (and `<= until` when given),
   * oldest first, and returns the public ones with the cursor to continue from
   * (internal entries advance the cursor but are not returned).
   */
  async readSince(
    since: number,
    limit: number,
    until?: number,
  ): Promise<{ events: LoggedEvent[]; cursor: number; scanned: number }> {
    const rows = await this.prisma.event.findMany({
      where: { seq: until === undefined ? { gt: since } : { gt: since, lte: until } },
      orderBy: { seq: 'asc' },
      take: limit,
      select: {
        seq: true,
        subject: true,
        ticketId: true,
        projectId: true,
        data: true,
        occurredAt: true,
        internal: true,
      },
    });
    const events: LoggedEvent[] = [];
    let cursor = since;
    for (const row of rows) {
      if (row.seq === null) continue;
      cursor = Number(row.seq);
      const type = typeBySubject.get(row.subject);
      if (!type || row.internal) continue;
      events.push({
        seq: Number(row.seq),
        type,
        occurredAt: row.occurredAt.toISOString(),
        ticketId: row.ticketId,
        data: row.data as never,
        projectId: row.projectId,
      });
    }
    return { events, cursor, scanned: rows.length };
  }
}
