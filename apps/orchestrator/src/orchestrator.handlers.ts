import { Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import {
  CancelRequest,
  RerunReply,
  RerunRequest,
  Consumers,
  CreateExperiment,
  DeleteTicketRequest,
  RunArtifactStored,
  RunFinished,
  RunLogAppended,
  RunStarted,
  Subjects,
  SubmitTicket,
  TaskCommand,
  type CancelReply,
  type TaskCommandReply,
  type CreateExperimentReply,
  type CreateTicketReply,
  type DeleteTicketReply,
  type StartRunReply,
} from '@drover/contracts';
import { OrchestratorConfig } from '@drover/config';
import { OutboxRelay } from '@drover/events';
import { NatsBus } from '@drover/messaging';
import { currentTraceparent, withTraceparent } from '@drover/telemetry';
import { TimerQueue } from '@drover/timers';
import { Batcher } from '@drover/util';
import {
  ActOnTask,
  AppendRunLog,
  CancelWork,
  RerunWork,
  CreateExperimentUseCase,
  CreateTicket,
  DeleteTicket,
  FireTimer,
  RecordArtifact,
  RecordRunFinished,
  StartRun,
  type Report,
  type ReportUseCase,
} from '@drover/workflow';

/** Answers to a command the orchestrator could not read (422) or carry out (500). */
function refusals(what: string) {
  const refuse = (status: number, code: string, message: string) => ({
    ok: false as const,
    status,
    error: { code, message },
  });
  return {
    invalid: (reason: string) => refuse(422, 'INVALID_MESSAGE', reason),
    failed: () => refuse(500, 'INTERNAL', `the orchestrator failed to ${what}`),
  };
}

/** The orchestrator's transport edge: ticket commands, run starts, runner reports, timers. */
@Injectable()
export class OrchestratorHandlers implements OnApplicationBootstrap {
  constructor(
    private readonly bus: NatsBus,
    @Inject(OutboxRelay) private readonly relay: OutboxRelay,
    @Inject(TimerQueue) private readonly timers: TimerQueue,
    private readonly config: OrchestratorConfig,
    private readonly createTicket: CreateTicket,
    private readonly startRun: StartRun,
    private readonly runFinished: RecordRunFinished,
    private readonly runLog: AppendRunLog,
    private readonly runArtifact: RecordArtifact,
    private readonly cancelWork: CancelWork,
    private readonly rerunWork: RerunWork,
    private readonly fireTimer: FireTimer,
    private readonly actOnTask: ActOnTask,
    private readonly deleteTicket: DeleteTicket,
    private readonly createExperiment: CreateExperimentUseCase,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.bus.serve<typeof SubmitTicket, CreateTicketReply>(
      Subjects.ticketCreate,
      SubmitTicket,
      async (ticket, envelope) => {
        // The message id names the request: a repeat of it returns the same ticket.
        const reply = await this.createTicket.execute(ticket, envelope.correlationId, envelope.id);
        this.relay.kick();
        return reply;
      },
      refusals('write the ticket'),
    );
    this.bus.serve<typeof CancelRequest, CancelReply>(
      Subjects.cancel,
      CancelRequest,
      async (request, envelope) => {
        const reply = await this.cancelWork.execute(request, envelope.correlationId);
        this.relay.kick();
        return reply;
      },
      refusals('cancel'),
    );
    this.bus.serve<typeof RerunRequest, RerunReply>(
      Subjects.rerun,
      RerunRequest,
      async (request, envelope) => {
        const reply = await this.rerunWork.execute(request, envelope.correlationId);
        this.relay.kick();
        return reply;
      },
      refusals('rerun'),
    );
    this.bus.serve<typeof CreateExperiment, CreateExperimentReply>(
      Subjects.experimentCreate,
      CreateExperiment,
      async (request, envelope) => {
        const reply = await this.createExperiment.execute(
          request,
          envelope.correlationId,
          envelope.id,
        );
        this.relay.kick();
        return reply;
      },
      refusals('write the experiment'),
    );
    this.bus.serve<typeof DeleteTicketRequest, DeleteTicketReply>(
      Subjects.ticketDelete,
      DeleteTicketRequest,
      (request, envelope) => this.deleteTicket.execute(request, envelope.correlationId),
      refusals('delete the ticket'),
    );
    this.bus.serve<typeof TaskCommand, TaskCommandReply>(
      Subjects.taskCommand,
      TaskCommand,
      async (command, envelope) => {
        const reply = await this.actOnTask.execute(command, envelope.correlationId);
        this.relay.kick();
        return reply;
      },
      refusals('act on the task'),
    );
    // Starts that arrive together are granted in one transaction.
    const start = this.batched(this.startRun);
    this.bus.serve(
      Subjects.runStart,
      RunStarted,
      (report, envelope) => start(report, envelope.correlationId),
      {
        invalid: (reason): StartRunReply => ({ ok: false, reason: `invalid request: ${reason}` }),
        failed: (): StartRunReply => ({ ok: false, reason: 'the orchestrator failed' }),
      },
    );
    await this.bus.ensureConsumer('reports', Consumers.orchestratorReports);
    const finished = this.batched(this.runFinished);
    const logs = this.batched(this.runLog);
    const artifacts = this.batched(this.runArtifact);
    this.bus.consumeForever(
      'reports',
      Consumers.orchestratorReports,
      {
        [Subjects.runFinished]: {
          schema: RunFinished,
          handle: async (report: RunFinished, envelope: { correlationId: string }) => {
            await finished(report, envelope.correlationId);
          },
        },
        [Subjects.runLogAppended]: {
          schema: RunLogAppended,
          handle: async (batch: RunLogAppended, envelope: { correlationId: string }) => {
            await logs(batch, envelope.correlationId);
          },
        },
        [Subjects.runArtifactStored]: {
          schema: RunArtifactStored,
          handle: async (stored: RunArtifactStored, envelope: { correlationId: string }) => {
            await artifacts(stored, envelope.correlationId);
          },
        },
      },
      {
        max: this.config.ORCHESTRATOR_REPORT_CONCURRENCY,
        concurrency: this.config.ORCHESTRATOR_REPORT_CONCURRENCY,
      },
    );
    this.timers.work(
      async (timer) => {
        if (await this.fireTimer.execute(timer)) this.relay.kick();
      },
      { concurrency: 16 },
    );
  }

  /**
   * Inputs of one kind that arrive together are applied in one transaction; each
   * caller gets its own result. Kicks the relay when anything may have changed.
   */
  private batched<T, R>(useCase: ReportUseCase<T, R>) {
    const batcher = new Batcher<Report<T>, R>(
      (reports) => useCase.executeMany(reports),
      ({ report, correlationId, traceparent }) =>
        withTraceparent(traceparent, () => useCase.execute(report, correlationId)),
      this.config.ORCHESTRATOR_REPORT_BATCH,
    );
    return async (report: T, correlationId: string): Promise<R> => {
      const result = await batcher.submit({
        report,
        correlationId,
        traceparent: currentTraceparent(),
      });
      this.relay.kick();
      return result;
    };
  }
}
