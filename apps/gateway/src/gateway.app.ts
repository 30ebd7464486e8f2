import type { Server } from 'node:http';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { cleanupOpenApiDoc } from 'nestjs-zod';
import type { GatewayConfig } from '@drover/config';
import { createLogger } from '@drover/service-kit';
import { GatewayModule } from './app.module';
import { tracingMiddleware } from './tracing.middleware';

/** The gateway app, configured but not listening (tests start it in-process). */
export async function createGateway(config: GatewayConfig): Promise<NestExpressApplication> {
  const ref: { server?: Server } = {};
  const app = await NestFactory.create<NestExpressApplication>(
    GatewayModule.register(config, () => ref.server as Server),
    { logger: createLogger('gateway', config), bodyParser: false },
  );
  ref.server = app.getHttpServer();
  app.use(tracingMiddleware);
  app.useBodyParser('json', { limit: config.GATEWAY_BODY_LIMIT });
  app.disable('x-powered-by');
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Drover API')
      .setDescription(
        'Tickets, tasks, runs, logs and runners. Live events: WebSocket at /events?since=<seq>&ticket=<id>.',
      )
      .setVersion('1')
      .build(),
  );
  SwaggerModule.setup('docs', app, cleanupOpenApiDoc(document), { jsonDocumentUrl: 'docs-json' });
  return app;
}
