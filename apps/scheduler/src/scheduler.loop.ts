import {
  Inject,
  Injectable,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { SchedulerConfig } from '@drover/config';
import { RunChanged, Subjects, TaskChanged, type RunStatus } from '@drover/contracts';

const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['DISPATCHED', 'RUNNING'];
import { OutboxRelay } from '@drover/events';
import { NatsBus } from '@drover/messaging';
import { DispatchReadyTasks } from '@drover/scheduling';
import { KickedLoop } from '@drover/util';

/**
 * Dispatches whenever a task may have become ready or a slot may have freed up
 * (task and run events), and on a timer as a safety net: Postgres, not the
 * events, decides what runs.
 */
@Injectable()
export class SchedulerLoop implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly loop: KickedLoop;

  constructor(
    private readonly bus: NatsBus,
    @Inject(OutboxRelay) private readonly relay: OutboxRelay,
    private readonly dispatcher: DispatchReadyTasks,
    config: SchedulerConfig,
  ) {
    this.loop = new KickedLoop(
      'Scheduler',
      () => this.pass(config.SCHEDULER_BATCH_SIZE),
      config.SCHEDULER_POLL_MS,
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
    this.loop.start();
  }

  private async pass(batch: number): Promise<boolean> {
    const dispatched = await this.dispatcher.execute();
    if (dispatched) this.relay.kick();
    return dispatched === batch;
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.loop.stop();
  }
}
