import { Logger } from '@nestjs/common';
import type { DeleteTicketReply, DeleteTicketRequest, TicketStatus } from '@drover/contracts';
import type { Tx } from '@drover/db';
import { ReportUseCase } from './report-use-case';

const FINAL: readonly TicketStatus[] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/**
 * Deletes a final ticket of the caller's project: its tasks, edges, runs, log
 * chunks, artifact records, approvals and input requests (by cascade) and its
 * published events. Returns the run ids, whose stored artifacts the caller
 * removes. A ticket still open is refused (cancel it first): its runs may yet
 * write.
 */
export class DeleteTicket extends ReportUseCase<DeleteTicketRequest, DeleteTicketReply> {
  private readonly logger = new Logger(DeleteTicket.name);

  async apply(tx: Tx, request: DeleteTicketRequest): Promise<DeleteTicketReply> {
    const [ticket] = await tx.$queryRaw<{ status: TicketStatus }[]>`
      SELECT status FROM ticket
      WHERE id = ${request.ticketId}::uuid AND project_id = ${request.projectId}::uuid
      FOR UPDATE`;
    if (!ticket) {
      return refuse(404, 'NOT_FOUND', `no ticket ${request.ticketId}`);
    }
    if (!FINAL.includes(ticket.status)) {
      return refuse(
        409,
        'NOT_FINAL',
        `ticket ${request.ticketId} is ${ticket.status}; cancel it first (drover cancel), then delete it`,
      );
    }
    const runs = await tx.$queryRaw<{ id: string }[]>`
      SELECT id FROM run WHERE ticket_id = ${request.ticketId}::uuid`;
    // Events not yet relayed stay: the relay must still see them (a final ticket has few).
    const events = await tx.$executeRaw`
      DELETE FROM event WHERE ticket_id = ${request.ticketId}::uuid AND published_at IS NOT NULL`;
    const [{ tasks }] = await tx.$queryRaw<{ tasks: number }[]>`
      SELECT count(*)::int AS tasks FROM task WHERE ticket_id = ${request.ticketId}::uuid`;
    await tx.$executeRaw`DELETE FROM ticket WHERE id = ${request.ticketId}::uuid`;
    this.logger.log(`ticket ${request.ticketId} deleted: ${tasks} tasks, ${runs.length} runs`);
    return { ok: true, runIds: runs.map((r) => r.id), tasks, events };
  }
}

function refuse(status: number, code: string, message: string): DeleteTicketReply {
  return { ok: false, status, error: { code, message } };
}
