import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { SchedulerConfig } from '@drover/config';
import {
  RunChanged,
  RunnerChanged,
  Subjects,
  TaskChanged,
  type RunStatus,
} from '@drover/contracts';
import { OutboxRelay } from '@drover/events';
import { NatsBus } from '@drover/messaging';
import { AssessWaitingTasks, DispatchReadyTasks } from '@drover/scheduling';
import { KickedLoop } from '@drover/util';

const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['DISPATCHED', 'RUNNING'];

/** How often tasks are judged against the runner registry (and at once when a runner changes). */
const WAITING_CHECK_MS = 1000;

/**
 * Dispatches whenever a task may have become ready or a slot may have freed up
 * (task and run events), and on a timer as a safety net: Postgres, not the
 * events, decides what runs. Beside it, says on each waiting task why no runner
 * can take it, from the runner registry (every second, and when a runner joins
 * or leaves).
 */
@Injectable()
export class SchedulerLoop implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly loop: KickedLoop;
  private readonly waiting: KickedLoop;

  constructor(
    private readonly bus: NatsBus,
    @Inject(OutboxRelay) private readonly relay: OutboxRelay,
    private readonly dispatcher: DispatchReadyTasks,
    assessor: AssessWaitingTasks,
    config: SchedulerConfig,
  ) {
    this.loop = new KickedLoop(
      'Scheduler',
      () => this.pass(config.SCHEDULER_BATCH_SIZE),
      config.SCHEDULER_POLL_MS,
    );
    this.waiting = new KickedLoop(
      'WaitingCheck',
      async () => {
        if (await assessor.execute()) this.relay.kick();
        return false;
      },
      WAITING_CHECK_MS,
    );
  }

  onApplicationBootstrap(): void {
    // Only what can make work possible: a task became READY, or a run ended (a slot freed).
    this.bus.subscribe(Subjects.taskChanged, TaskChanged, (change) => {
      if (change.status === 'READY') this.loop.kick();
      return Promise.resolve();
    });
    this.bus.subscribe(Subjects.runChanged, RunChanged, (change) => {
      if (!ACTIVE_RUN_STATUSES.includes(change.status)) this.loop.kick();
      return Promise.resolve();
    });
    // A runner joined or left: who can take what changed (a task held for its image may go).
    this.bus.subscribe(Subjects.runnerChanged, RunnerChanged, () => {
      this.loop.kick();
      this.waiting.kick();
      return Promise.resolve();
    });
    this.loop.start();
    this.waiting.start();
  }

  private async pass(batch: number): Promise<boolean> {
    const dispatched = await this.dispatcher.execute();
    if (dispatched) this.relay.kick();
    return dispatched === batch;
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.waiting.stop();
    await this.loop.stop();
  }
}
