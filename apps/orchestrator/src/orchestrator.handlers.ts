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
import { currentTraceparent, withTraceparent } from '@drover/telemetry';
import { Batcher } from '@drover/util';
import {
  AppendRunLog,
  CreateTicket,
  RecordRunFinished,
  RecordRunStarted,
  type Report,
  type ReportUseCase,
} from '@drover/workflow';

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
    // Reports of one kind that arrive together are applied in one transaction.
    const batched = <T>(useCase: ReportUseCase<T>) => {
      const batcher = new Batcher<Report<T>, boolean>(
        (reports) => useCase.executeMany(reports),
        ({ report, correlationId, traceparent }) =>
          withTraceparent(traceparent, () => useCase.execute(report, correlationId)),
        this.config.ORCHESTRATOR_REPORT_BATCH,
      );
      return async (report: T, envelope: { correlationId: string }) => {
        const traceparent = currentTraceparent();
        if (await batcher.submit({ report, correlationId: envelope.correlationId, traceparent })) {
          this.relay.kick();
        }
      };
    };
    this.bus.consumeForever(
      'reports',
      Consumers.orchestratorReports,
      {
        [Subjects.runStarted]: { schema: RunStarted, handle: batched(this.runStarted) },
        [Subjects.runFinished]: { schema: RunFinished, handle: batched(this.runFinished) },
        [Subjects.runLogAppended]: { schema: RunLogAppended, handle: batched(this.runLog) },
      },
      {
        max: this.config.ORCHESTRATOR_REPORT_CONCURRENCY,
        concurrency: this.config.ORCHESTRATOR_REPORT_CONCURRENCY,
      },
    );
  }
}
