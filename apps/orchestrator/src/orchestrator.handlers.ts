import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  Consumers,
  RunFinished,
  RunLogAppended,
  RunStarted,
  Subjects,
  SubmitTicket,
  type CreateTicketReply,
} from '@drover/contracts';
import { OrchestratorConfig } from '@drover/config';
import { OutboxRelay } from '@drover/events';
import { NatsBus } from '@drover/messaging';
import { AppendRunLog, CreateTicket, RecordRunFinished, RecordRunStarted } from '@drover/workflow';

/** The orchestrator's transport edge: ticket commands and runner reports. */
@Injectable()
export class OrchestratorHandlers implements OnApplicationBootstrap {
  constructor(
    private readonly bus: NatsBus,
    @Inject(OutboxRelay) private readonly relay: OutboxRelay,
    private readonly config: OrchestratorConfig,
    private readonly createTicket: CreateTicket,
    private readonly runStarted: RecordRunStarted,
    private readonly runFinished: RecordRunFinished,
    private readonly runLog: AppendRunLog,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.bus.serve(
      Subjects.ticketCreate,
      SubmitTicket,
      async (ticket, envelope) => {
        const reply = await this.createTicket.execute(ticket, envelope.correlationId);
        this.relay.kick();
        return reply;
      },
      {
        invalid: (reason): CreateTicketReply => ({
          ok: false,
          status: 422,
          error: { code: 'INVALID_MESSAGE', message: reason },
        }),
        failed: (): CreateTicketReply => ({
          ok: false,
          status: 500,
          error: { code: 'INTERNAL', message: 'the orchestrator failed to write the ticket' },
        }),
      },
    );
    await this.bus.ensureConsumer('reports', Consumers.orchestratorReports);
    const kickAfter =
      <T>(fn: (data: T, correlationId: string) => Promise<boolean>) =>
      async (data: T, envelope: { correlationId: string }) => {
        if (await fn(data, envelope.correlationId)) this.relay.kick();
      };
    this.bus.consumeForever(
      'reports',
      Consumers.orchestratorReports,
      {
        [Subjects.runStarted]: {
          schema: RunStarted,
          handle: kickAfter((d: RunStarted, c) => this.runStarted.execute(d, c)),
        },
        [Subjects.runFinished]: {
          schema: RunFinished,
          handle: kickAfter((d: RunFinished, c) => this.runFinished.execute(d, c)),
        },
        [Subjects.runLogAppended]: {
          schema: RunLogAppended,
          handle: kickAfter((d: RunLogAppended, c) => this.runLog.execute(d, c)),
        },
      },
      {
        max: this.config.ORCHESTRATOR_REPORT_BATCH,
        concurrency: this.config.ORCHESTRATOR_REPORT_CONCURRENCY,
      },
    );
  }
}
