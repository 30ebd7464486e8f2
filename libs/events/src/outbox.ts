import { randomUUID } from 'node:crypto';
import type { Prisma, Tx } from '@drover/db';
import { currentTraceparent } from '@drover/telemetry';

export interface OutboxMessage {
  subject: string;
  data: unknown;
  ticketId?: string | null;
  /** Internal messages (work for runners) are relayed to NATS but never shown on the stream. */
  internal?: boolean;
  /** Trace context to send the message with; defaults to the active one. */
  traceparent?: string | null;
}

/**
 * Writes messages to the outbox inside the caller's transaction, so a state
 * change and its announcement commit together or not at all.
 */
export async function appendToOutbox(
  tx: Tx,
  messages: readonly OutboxMessage[],
  correlationId?: string,
): Promise<void> {
  if (!messages.length) return;
  const traceparent = currentTraceparent();
  const rows: Prisma.EventCreateManyInput[] = messages.map((m) => {
    const messageId = randomUUID();
    return {
      messageId,
      subject: m.subject,
      data: m.data as Prisma.InputJsonValue,
      ticketId: m.ticketId ?? null,
      internal: m.internal ?? false,
      correlationId: correlationId ?? messageId,
      traceparent: m.traceparent ?? traceparent,
    };
  });
  await tx.event.createMany({ data: rows });
}
