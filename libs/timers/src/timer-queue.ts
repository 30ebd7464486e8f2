import { Logger } from '@nestjs/common';
import { Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import Redis, { type RedisOptions } from 'ioredis';
import { Queues, TimerJob, timerJobId, toIssues } from '@drover/contracts';

export interface TimerQueueOptions {
  redisUrl: string;
  /** BullMQ key prefix (DROVER_REDIS_PREFIX): isolates environments sharing a Redis. */
  prefix: string;
}

/** Runs one fired timer; a throw makes BullMQ retry it with backoff. */
export type TimerHandler = (timer: TimerJob) => Promise<void>;

// A handler that throws because Postgres is briefly down is retried for about
// eight minutes (1 s, 2 s, 4 s ... 256 s) before the job is given up.
const JOB_OPTIONS = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: true,
  removeOnFail: 1_000,
} satisfies JobsOptions;

// Reconnect forever, backing off to one attempt every 5 s.
const retryStrategy = (times: number): number => Math.min(times * 200, 5_000);

// schedule() and missing() fail after this long without Redis instead of hanging,
// so their callers can fall back on reconciling later.
const READY_TIMEOUT_MS = 5_000;
const PRODUCER_RETRIES = 5;

// While Redis is down, every client reports the same failure on every reconnect.
const WARN_EVERY_MS = 30_000;

/** Thrown for a job whose payload is not a TimerJob: never retried, logged once. */
class InvalidTimerPayload extends UnrecoverableError {}

/**
 * Drover's timers (retry backoff, run deadlines) as BullMQ delayed jobs. The job
 * id is derived from the timer, so scheduling is idempotent, and `missing` tells
 * which timers a Redis that lost its data no longer holds, so they can be set again.
 * Redis being down never crashes the process: clients keep reconnecting and warn.
 */
export class TimerQueue {
  private readonly logger = new Logger(TimerQueue.name);
  private readonly warned = new Map<string, number>();
  private readonly down = new Set<string>();
  private worker: Worker<unknown, void> | undefined;
  private workerRedis: Redis | undefined;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly options: TimerQueueOptions,
    private readonly redis: Redis,
    private readonly queue: Queue<TimerJob, void, TimerJob['kind']>,
  ) {
    this.watch(redis, 'producer');
    queue.on('error', (error) => this.warnThrottled('BullMQ queue', error));
  }

  static create(opts: TimerQueueOptions): TimerQueue {
    // The producer is not blocking, so BullMQ does not require maxRetriesPerRequest: null;
    // a bounded count makes a call fail while Redis is down rather than wait forever.
    const redis = new Redis(opts.redisUrl, {
      ...connectionOptions('drover-timers'),
      maxRetriesPerRequest: PRODUCER_RETRIES,
    });
    const queue = new Queue<TimerJob, void, TimerJob['kind']>(Queues.timers, {
      connection: redis,
      prefix: opts.prefix,
    });
    return new TimerQueue(opts, redis, queue);
  }

  /** Sets the timers; a timer whose job is still in Redis is left as it is. */
  async schedule(timers: readonly TimerJob[]): Promise<void> {
    if (timers.length === 0) return;
    const jobs = timers.map((t) => TimerJob.parse(t));
    await this.connected();
    const now = Date.now();
    await this.queue.addBulk(
      jobs.map((timer) => ({
        name: timer.kind,
        data: timer,
        opts: {
          ...JOB_OPTIONS,
          jobId: timerJobId(timer),
          delay: Math.max(0, Date.parse(timer.dueAt) - now),
        },
      })),
    );
  }

  /**
   * The timers that have no job in Redis (e.g. it restarted empty). A timer that
   * has fired is removed too, so pass only timers that should still be pending.
   */
  async missing(timers: readonly TimerJob[]): Promise<TimerJob[]> {
    if (timers.length === 0) return [];
    await this.connected();
    // One round trip: EXISTS on each job's hash, whatever state the job is in.
    const pipeline = this.redis.pipeline();
    for (const timer of timers) pipeline.exists(this.queue.toKey(timerJobId(timer)));
    const replies = (await pipeline.exec()) ?? [];
    if (replies.length !== timers.length) throw new Error('Redis answered a partial pipeline');
    return timers.filter((_, i) => {
      const [error, exists] = replies[i];
      if (error) throw error;
      return exists === 0;
    });
  }

  /** Starts running fired timers; a payload that is not a TimerJob is failed without retries. */
  work(handler: TimerHandler, opts: { concurrency: number }): void {
    if (this.closing) throw new Error('TimerQueue is closed');
    if (this.worker) throw new Error('TimerQueue is already working');
    // The worker blocks on Redis, for which BullMQ requires maxRetriesPerRequest: null.
    const redis = new Redis(this.options.redisUrl, {
      ...connectionOptions('drover-timers-worker'),
      maxRetriesPerRequest: null,
    });
    this.watch(redis, 'worker');
    this.workerRedis = redis;
    const worker = new Worker<unknown, void>(
      Queues.timers,
      async (job: Job<unknown, void>) => {
        const parsed = TimerJob.safeParse(job.data);
        if (!parsed.success) {
          const problems = toIssues(parsed.error)
            .map((i) => `${i.path}: ${i.message}`)
            .join('; ');
          this.logger.error(`timer job ${job.id} has an invalid payload, dropping it: ${problems}`);
          throw new InvalidTimerPayload(`invalid timer payload: ${problems}`);
        }
        await handler(parsed.data);
      },
      { connection: redis, prefix: this.options.prefix, concurrency: opts.concurrency },
    );
    worker.on('error', (error) => this.warnThrottled('BullMQ worker', error));
    worker.on('failed', (job, error) => {
      if (error instanceof InvalidTimerPayload) return;
      const attempts = job?.opts.attempts ?? 1;
      const made = job?.attemptsMade ?? 0;
      const message = `timer job ${job?.id} failed (attempt ${made} of ${attempts}): ${error.message}`;
      if (made < attempts) this.logger.warn(`${message}; retrying`);
      else this.logger.error(`${message}; giving up`);
    });
    this.worker = worker;
  }

  /** Stops the worker (letting running handlers finish if Redis is up), then the queue and connections. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    // Without Redis, BullMQ's graceful close waits for it forever; a job cut short
    // is stalled and runs again once Redis is back.
    await this.worker?.close(this.workerRedis?.status !== 'ready');
    await this.queue.close();
    await Promise.all([quit(this.redis), this.workerRedis && quit(this.workerRedis)]);
  }

  /** Waits briefly for the producer connection, so a call fails rather than hangs. */
  private async connected(): Promise<void> {
    if (this.closing) throw new Error('TimerQueue is closed');
    if (this.redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.redis.off('ready', onReady);
        reject(new Error(`Redis is unavailable (connection ${this.redis.status})`));
      }, READY_TIMEOUT_MS);
      this.redis.once('ready', onReady);
    });
  }

  private watch(redis: Redis, name: string): void {
    redis.on('error', (error: Error) => {
      this.down.add(name);
      this.warnThrottled(`Redis ${name} connection`, error);
    });
    redis.on('ready', () => {
      if (this.down.delete(name)) this.logger.log(`Redis ${name} connection is back`);
    });
  }

  private warnThrottled(source: string, error: Error): void {
    const now = Date.now();
    if (now - (this.warned.get(error.message) ?? 0) < WARN_EVERY_MS) return;
    if (this.warned.size > 100) this.warned.clear();
    this.warned.set(error.message, now);
    this.logger.warn(`${source}: ${error.message} (retrying)`);
  }
}

function connectionOptions(connectionName: string): RedisOptions {
  return { connectionName, retryStrategy };
}

/** QUIT when connected; otherwise just stop reconnecting. */
async function quit(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}
