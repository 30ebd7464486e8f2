import type { Server } from 'node:http';
import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { GatewayConfig } from '@drover/config';
import { drainableServer, type HttpDrain } from '@drover/service-kit';
import { HTTP_SERVER } from './event-stream.server';

/**
 * On shutdown the gateway stops accepting connections and lets requests in
 * flight finish for GATEWAY_SHUTDOWN_GRACE_MS; then it closes whatever is still
 * open (slow clients, event streams that ignored their 1001 close), so that a
 * SIGTERM always ends the process. Before the database and NATS close: the
 * requests let finish still need them.
 */
@Injectable()
export class HttpShutdown implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(HttpShutdown.name);
  private drain: HttpDrain | undefined;

  constructor(
    private readonly config: GatewayConfig,
    @Inject(HTTP_SERVER) private readonly server: () => Server,
  ) {}

  /** Before the server listens (Nest bootstraps the app first), so every connection counts. */
  onApplicationBootstrap(): void {
    this.drain = drainableServer(this.server());
  }

  async beforeApplicationShutdown(): Promise<void> {
    const grace = this.config.GATEWAY_SHUTDOWN_GRACE_MS;
    const closed = (await this.drain?.drain(grace)) ?? 0;
    if (closed) this.logger.warn(`closed ${closed} connections still open after ${grace} ms`);
  }
}
