import { randomUUID } from 'node:crypto';
import type { Tx } from '@drover/db';
import { currentTraceparent } from '@drover/telemetry';

export interface OutboxMessage {
  subject: string;
  data: unknown;
  ticketId?: string | null;
  /**
   * The project whose stream alone shows it, for a message of no ticket (a
   * ticket's messages are its project's); none: every project's stream.
   */
  projectId?: string | null;
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
  const ids = messages.map(() => randomUUID());
  // One statement whatever the count (a 10,000-task ticket writes 10,001 events), in
  // the given order (ids follow it). A ticket's events carry its project (as do
  // those given one): the event stream shows them to it alone.
  await tx.$executeRaw`
    INSERT INTO event (message_id, subject, ticket_id, internal, data, correlation_id, traceparent,
      project_id)
    SELECT m.message_id, m.subject, m.ticket_id, m.internal, m.data, m.correlation_id,
      m.traceparent,
      COALESCE(m.project_id, (SELECT project_id FROM ticket WHERE ticket.id = m.ticket_id))
    FROM unnest(
      ${ids}::uuid[],
      ${messages.map((m) => m.subject)}::text[],
      ${messages.map((m) => m.ticketId ?? null)}::uuid[],
      ${messages.map((m) => m.internal ?? false)}::boolean[],
      ${messages.map((m) => JSON.stringify(m.data))}::jsonb[],
      ${ids.map((id) => correlationId ?? id)}::text[],
      ${messages.map((m) => m.traceparent ?? traceparent)}::text[],
      ${messages.map((m) => m.projectId ?? null)}::uuid[])
      WITH ORDINALITY AS m(message_id, subject, ticket_id, internal, data, correlation_id,
        traceparent, project_id, n)
    ORDER BY m.n`;
}
