import { Module, type DynamicModule } from '@nestjs/common';
import type { Server } from 'node:http';
import { APP_FILTER, APP_GUARD } from '@nestjs/core';
import { GatewayConfig } from '@drover/config';
import { PrismaService } from '@drover/db';
import { InfraModule } from '@drover/service-kit';
import {
  ApiKeys,
  ArtifactQueries,
  ExperimentQueries,
  Projects,
  TicketQueries,
} from '@drover/workflow';
import { ApiErrorFilter } from './api-error';
import { artifactStoreProvider } from './artifact-store.provider';
import { ArtifactsController } from './artifacts.controller';
import { AccessGuard } from './auth/access.guard';
import { Authenticator } from './auth/authenticator';
import { EventTokens } from './auth/event-tokens';
import { RateLimits, redisProvider } from './auth/rate-limits';
import { EventsController } from './events.controller';
import { EventStreamServer, HTTP_SERVER } from './event-stream.server';
import { ExperimentsController } from './experiments.controller';
import { OrchestratorCommands } from './orchestrator-commands';
import { TicketRemoval } from './ticket-removal';
import { MetricsController } from './metrics.controller';
import { HealthController } from './health.controller';
import { HealthProbe } from './health.probe';
import { HttpShutdown } from './http-shutdown';
import { ProjectsController } from './projects.controller';
import { ProvidersController } from './providers.controller';
import { SchedulerRequests } from './scheduler-requests';
import { TasksController } from './tasks.controller';
import { TicketsController } from './tickets.controller';

/** A provider of `cls` built on the service's Prisma client. */
const onPrisma = <T>(cls: new (prisma: PrismaService) => T) => ({
  provide: cls,
  inject: [PrismaService],
  useFactory: (prisma: PrismaService) => new cls(prisma),
});

@Module({})
export class GatewayModule {
  /** `server` yields the HTTP server once the app has created it (for WebSocket upgrades). */
  static register(config: GatewayConfig, server: () => Server): DynamicModule {
    return {
      module: GatewayModule,
      imports: [
        InfraModule.forRoot({
          service: 'gateway',
          config,
          streams: [],
          relay: false,
          database: true,
        }),
      ],
      controllers: [
        TicketsController,
        ExperimentsController,
        TasksController,
        ProvidersController,
        ArtifactsController,
        ProjectsController,
        EventsController,
        HealthController,
        MetricsController,
      ],
      providers: [
        { provide: GatewayConfig, useValue: config },
        { provide: HTTP_SERVER, useValue: server },
        { provide: APP_FILTER, useClass: ApiErrorFilter },
        { provide: APP_GUARD, useClass: AccessGuard },
        onPrisma(TicketQueries),
        onPrisma(ExperimentQueries),
        onPrisma(ArtifactQueries),
        onPrisma(ApiKeys),
        onPrisma(Projects),
        redisProvider,
        RateLimits,
        Authenticator,
        EventTokens,
        artifactStoreProvider,
        HealthProbe,
        EventStreamServer,
        HttpShutdown,
        OrchestratorCommands,
        SchedulerRequests,
        TicketRemoval,
      ],
    };
  }
}
