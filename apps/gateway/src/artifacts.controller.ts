import { pipeline } from 'node:stream/promises';
import { Controller, Get, Inject, Logger, Param, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import {
  ArtifactNotFoundError,
  checkArtifactName,
  InvalidArtifactNameError,
  type ArtifactStore,
  type StoredArtifact,
} from '@drover/storage';
import { ArtifactQueries, type ArtifactRecord, type Caller } from '@drover/workflow';
import { ApiError, parseOrThrow } from './api-error';
import { ARTIFACT_STORE } from './artifact-store.provider';
import { CallerOf, Needs } from './auth/access';
import { ArtifactParams, IdParam } from './dto';
import { API_KEY_SCHEME } from './openapi-document';
import { Operation } from './operation.decorator';

/** The name a runner stores a run's diff under. */
export const DIFF_ARTIFACT = 'diff.patch';

const noRun = (id: string) => new ApiError(404, 'NOT_FOUND', `no run with id ${id}`);

/**
 * A run's artifacts: what its runner recorded (the rows), served from the
 * artifact store. Only a name recorded for that run is ever read from the store.
 */
@ApiTags('runs')
@ApiBearerAuth(API_KEY_SCHEME)
@Needs('viewer')
@Controller('runs/:id')
@ApiParam({ name: 'id', description: 'run id (UUID)' })
export class ArtifactsController {
  private readonly logger = new Logger(ArtifactsController.name);

  constructor(
    private readonly artifacts: ArtifactQueries,
    @Inject(ARTIFACT_STORE) private readonly store: ArtifactStore,
  ) {}

  @Get('artifacts')
  @Operation('listRunArtifacts', {
    summary: "A run's artifacts (diff, iteration logs, result.json), by name",
  })
  @ApiResponse({ status: 400, description: 'The id is not a UUID' })
  @ApiResponse({ status: 404, description: 'No such run' })
  async list(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const items = await this.artifacts.listForRun(caller.projectId, id);
    if (!items) throw noRun(id);
    return {
      items: items.map((a) => ({ ...a, url: `/runs/${id}/artifacts/${a.name}` })),
    };
  }

  @Get('artifacts/:name')
  @Operation('getRunArtifact', { summary: 'Download one artifact of a run, as an attachment' })
  @ApiParam({ name: 'name', description: 'a name from the listing, e.g. iteration-1.log' })
  @ApiResponse({ status: 200, description: 'The content, with its own type and length' })
  @ApiResponse({
    status: 400,
    description: 'The id is not a UUID, or the name is not a stored name (path, "..", %, NUL ...)',
  })
  @ApiResponse({ status: 404, description: 'No such run, or the run has no artifact of that name' })
  async download(
    @CallerOf() caller: Caller,
    @Param() params: unknown,
    @Res() res: Response,
  ): Promise<void> {
    const { id, name } = parseOrThrow(ArtifactParams, params, 'path');
    const artifact = await this.recorded(caller, id, checkedName(name));
    await this.send(res, id, artifact, {
      'Content-Disposition': `attachment; filename="${artifact.name}"`,
    });
  }

  @Get('diff')
  @Operation('getRunDiff', { summary: "The run's diff (its workspace changes) as a patch" })
  @ApiResponse({ status: 200, description: '`diff.patch`, as text/x-diff; charset=utf-8' })
  @ApiResponse({ status: 400, description: 'The id is not a UUID' })
  @ApiResponse({ status: 404, description: 'No such run, or the run has no diff yet' })
  async diff(
    @CallerOf() caller: Caller,
    @Param() params: unknown,
    @Res() res: Response,
  ): Promise<void> {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const artifact = await this.recorded(
      caller,
      id,
      DIFF_ARTIFACT,
      () =>
        new ApiError(
          404,
          'NO_DIFF',
          `run ${id} has no diff yet: its runner stores ${DIFF_ARTIFACT} once the run's changes are computed`,
        ),
    );
    await this.send(res, id, artifact, {
      'Content-Type': 'text/x-diff; charset=utf-8',
      'Content-Disposition': `inline; filename="${DIFF_ARTIFACT}"`,
    });
  }

  /** The row of artifact `name` of run `id`; 404 unless the run recorded it (`missing` says why). */
  private async recorded(
    caller: Caller,
    id: string,
    name: string,
    missing = () => new ApiError(404, 'NOT_FOUND', `run ${id} has no artifact named ${name}`),
  ): Promise<ArtifactRecord> {
    const { run, artifact } = await this.artifacts.find(caller.projectId, id, name);
    if (!run) throw noRun(id);
    if (!artifact) throw missing();
    return artifact;
  }

  /** Streams a recorded artifact from the store; `headers` add to or replace the defaults. */
  private async send(
    res: Response,
    runId: string,
    artifact: ArtifactRecord,
    headers: Record<string, string>,
  ): Promise<void> {
    const stored = await this.open(runId, artifact.name);
    // Set on the raw response: Express would rewrite a content type it thinks it knows.
    const all: Record<string, string> = {
      'Content-Type': stored.meta.contentType,
      'Content-Length': String(stored.meta.size),
      'X-Content-Type-Options': 'nosniff',
      // Opened in a browser anyway, the content runs nothing and loads nothing.
      'Content-Security-Policy': "default-src 'none'; sandbox",
      'Cache-Control': 'private, no-cache',
      ...headers,
    };
    res.status(200);
    for (const [key, value] of Object.entries(all)) res.setHeader(key, value);
    try {
      await pipeline(stored.body, res);
    } catch (error) {
      // Headers are out: the client sees a short body (its Content-Length says so).
      const { code, message } = error as NodeJS.ErrnoException;
      const text = `run ${runId}: sending artifact ${artifact.name} stopped: ${message}`;
      if (code === 'ERR_STREAM_PREMATURE_CLOSE')
        this.logger.debug(text); // the client left
      else this.logger.warn(text);
    }
  }

  private async open(runId: string, name: string): Promise<StoredArtifact> {
    try {
      return await this.store.get(runId, name);
    } catch (error) {
      if (!(error instanceof ArtifactNotFoundError)) throw error;
      this.logger.error(
        `run ${runId}: artifact ${name} is recorded but missing from the ${this.store.kind} store`,
      );
      throw new ApiError(
        404,
        'ARTIFACT_CONTENT_MISSING',
        `artifact ${name} of run ${runId} is recorded, but its content is no longer in the artifact store`,
      );
    }
  }
}

/** The name when it is a stored artifact name; 400 saying what is wrong otherwise. */
function checkedName(name: string): string {
  try {
    return checkArtifactName(name);
  } catch (error) {
    if (!(error instanceof InvalidArtifactNameError)) throw error;
    throw new ApiError(400, 'INVALID_ARTIFACT_NAME', error.message, [
      { path: 'path.name', message: error.reason },
    ]);
  }
}
