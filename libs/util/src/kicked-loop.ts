import { Logger } from '@nestjs/common';

/**
 * Runs `pass` whenever kicked and at least every `pollMs`; passes never overlap,
 * a kick during a pass schedules one more, and a pass that reports more work
 * (returns true) is followed at once by another.
 */
export class KickedLoop {
  private readonly logger: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;

  constructor(
    name: string,
    private readonly pass: () => Promise<boolean>,
    private readonly pollMs: number,
  ) {
    this.logger = new Logger(name);
  }

  start(): void {
    this.timer = setInterval(() => this.kick(), this.pollMs);
    this.kick();
  }

  kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => (this.running = undefined));
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        while (!this.stopped && (await this.pass()));
      } catch (error) {
        this.logger.warn(`pass failed: ${(error as Error).message}`);
      }
    } while (this.again && !this.stopped);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }
}
