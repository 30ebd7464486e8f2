import { Module, type DynamicModule } from '@nestjs/common';
import type { Server } from 'node:http';
import { APP_FILTER } from '@nestjs/core';
import { GatewayConfig } from '@drover/config';
import { PrismaService } from '@drover/db';
import { InfraModule } from '@drover/service-kit';
import { ArtifactQueries, TicketQueries } from '@drover/workflow';
import { ApiErrorFilter } from './api-error';
import { artifactStoreProvider } from './artifact-store.provider';
import { ArtifactsController } from './artifacts.controller';
import { EventStreamServer, HTTP_SERVER } from './event-stream.server';
import { CancelCommand } from './cancel';
import { HealthController } from './health.controller';
import { HealthProbe } from './health.probe';
import { TasksController } from './tasks.controller';
import { TicketsController } from './tickets.controller';

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
      controllers: [TicketsController, TasksController, ArtifactsController, HealthController],
      providers: [
        { provide: GatewayConfig, useValue: config },
        { provide: HTTP_SERVER, useValue: server },
        { provide: APP_FILTER, useClass: ApiErrorFilter },
        {
          provide: TicketQueries,
          inject: [PrismaService],
          useFactory: (p: PrismaService) => new TicketQueries(p),
        },
        {
          provide: ArtifactQueries,
          inject: [PrismaService],
          useFactory: (p: PrismaService) => new ArtifactQueries(p),
        },
        artifactStoreProvider,
        HealthProbe,
        EventStreamServer,
        CancelCommand,
      ],
    };
  }
}
