import type { IncomingMessage, Server } from 'node:http';
import { join } from 'node:path';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import type { GatewayConfig } from '@drover/config';
import { DOCUMENT_LIMITS } from '@drover/contracts';
import { createLogger, ServiceMetrics } from '@drover/service-kit';
import { GatewayModule } from './app.module';
import { Authenticator } from './auth/authenticator';
import { dashboardMiddleware } from './dashboard.middleware';
import { refuseInvalidUtf8, verifyJson } from './json-body';
import { httpMetricsMiddleware } from './http-metrics';
import { openApiDocument } from './openapi-document';
import { DOCUMENT_TYPES } from './ticket-documents';
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
  app.use(httpMetricsMiddleware(app.get(ServiceMetrics)));
  // The dashboard's static files need no key; every API call they make does.
  app.use(dashboardMiddleware(config.GATEWAY_UI_DIR ?? defaultUiDir()));
  // Before the body parser: a request without a valid key is refused unread.
  app.use(app.get(Authenticator).middleware);
  // A variable, not a literal: Nest's type leaves `verify` out (it sets one itself only for rawBody).
  const json = { limit: config.GATEWAY_BODY_LIMIT, verify: verifyJson };
  app.useBodyParser('json', json);
  // Work orders and YAML tickets, as text: at most what a document may be.
  app.useBodyParser('text', {
    type: DOCUMENT_TYPES,
    limit: DOCUMENT_LIMITS.documentBytes,
    defaultCharset: 'utf-8',
    verify: refuseNonUtf8Text,
  });
  app.disable('x-powered-by');
  SwaggerModule.setup('docs', app, openApiDocument(app), { jsonDocumentUrl: 'docs-json' });
  return app;
}

/** dist/apps/dashboard beside dist/apps/gateway/main.js (the same in a test's bundle snapshot). */
function defaultUiDir(): string {
  return join(__dirname, '..', 'dashboard');
}

/** Documents (work orders, YAML tickets) are UTF-8 only, as YAML 1.2 files are read. */
function refuseNonUtf8Text(
  req: IncomingMessage,
  res: unknown,
  body: Buffer,
  charset: string,
): void {
  if (charset !== 'utf-8') {
    throw Object.assign(new Error(`a document must be UTF-8, not "${charset.toUpperCase()}"`), {
      status: 415,
      type: 'charset.unsupported',
    });
  }
  refuseInvalidUtf8(req, res, body, charset);
}
