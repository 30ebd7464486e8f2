import { Body, Controller, Delete, Get, Param, Post, Req } from '@nestjs/common';
import type { Request } from 'express';
import { ApiBearerAuth, ApiBody, ApiParam, ApiResponse, ApiTags } from '@nestjs/swagger';
import { createZodDto } from 'nestjs-zod';
import { CreateKey, CreateProject } from '@drover/contracts';
import { ApiKeys, ProjectExistsError, Projects, type Caller } from '@drover/workflow';
import { ApiError, found, parseOrThrow, requireJson } from './api-error';
import { CallerOf, Needs } from './auth/access';
import { IdParam } from './dto';
import { API_KEY_SCHEME } from './openapi-document';
import { Operation } from './operation.decorator';

class CreateProjectDto extends createZodDto(CreateProject) {}
class CreateKeyDto extends createZodDto(CreateKey) {}

/**
 * The expiry of a key `caller` issues: the one asked for, or the caller's own when
 * none is asked. A key that expires cannot issue one that outlives it (422).
 */
function expiryWithin(caller: Caller, asked: string | undefined): Date | null {
  const wanted = asked ? new Date(asked) : null;
  const limit = caller.expiresAt;
  if (!limit) return wanted;
  if (!wanted) return limit;
  if (wanted > limit) {
    throw new ApiError(
      422,
      'INVALID_REQUEST',
      `invalid body: body.expires_at: must not be later than ${limit.toISOString()}, when the key issuing it expires`,
      [{ path: 'body.expires_at', message: 'later than the issuing key expires' }],
    );
  }
  return wanted;
}

/** The project id of the path, if it is the caller's: another project's is answered 404. */
function ownProject(caller: Caller, params: unknown): string {
  const { id } = parseOrThrow(IdParam, params, 'path');
  if (id !== caller.projectId) throw new ApiError(404, 'NOT_FOUND', `no project with id ${id}`);
  return id;
}

/**
 * Projects and their API keys. A key's secret is in the answer that creates it
 * and nowhere else, ever. Another project's id is answered 404, as if it did not exist.
 */
@ApiTags('projects')
@ApiBearerAuth(API_KEY_SCHEME)
@Needs('admin')
@Controller()
export class ProjectsController {
  constructor(
    private readonly projects: Projects,
    private readonly keys: ApiKeys,
  ) {}

  @Post('projects')
  @Needs('operator')
  @Operation('createProject', {
    summary: 'Create a project with its first admin key (operator admins only)',
  })
  @ApiBody({ type: CreateProjectDto })
  @ApiResponse({ status: 201, description: '`{ project, key }`: `key.key` is shown only here' })
  @ApiResponse({ status: 409, description: 'A project with this slug exists' })
  async create(@CallerOf() caller: Caller, @Body() body: unknown, @Req() req: Request) {
    requireJson(req);
    const input = parseOrThrow(CreateProject, body, 'body');
    try {
      return await this.projects.create(input, caller.keyId, caller.expiresAt);
    } catch (error) {
      if (error instanceof ProjectExistsError) {
        throw new ApiError(409, 'PROJECT_EXISTS', error.message, [
          { path: 'body.slug', message: 'taken' },
        ]);
      }
      throw error;
    }
  }

  @Get('me')
  @Needs('viewer')
  @Operation('getMe', { summary: 'Who the key is: its id, role, expiry and project' })
  async me(@CallerOf() caller: Caller) {
    const project = await this.projects.get(caller.projectId);
    return {
      keyId: caller.keyId,
      name: caller.keyName,
      role: caller.role,
      expiresAt: caller.expiresAt,
      project: found(project, `project with id ${caller.projectId}`),
    };
  }

  @Get('projects/:id')
  @Needs('viewer')
  @ApiParam({ name: 'id', description: 'project id (UUID)' })
  @Operation('getProject', { summary: "The caller's project and its quotas" })
  @ApiResponse({ status: 404, description: "Not the key's project" })
  async get(@CallerOf() caller: Caller, @Param() params: unknown) {
    const id = ownProject(caller, params);
    return found(await this.projects.get(id), `project with id ${id}`);
  }

  @Post('projects/:id/keys')
  @ApiParam({ name: 'id', description: 'project id (UUID)' })
  @Operation('createKey', { summary: 'Issue an API key for the project (its admins only)' })
  @ApiBody({ type: CreateKeyDto })
  @ApiResponse({ status: 201, description: 'The key; `key` is shown only here' })
  async issue(
    @CallerOf() caller: Caller,
    @Param() params: unknown,
    @Body() body: unknown,
    @Req() req: Request,
  ) {
    const id = ownProject(caller, params);
    requireJson(req);
    const input = parseOrThrow(CreateKey, body, 'body');
    return this.keys.issue({
      projectId: id,
      name: input.name,
      role: input.role,
      expiresAt: expiryWithin(caller, input.expires_at),
      createdBy: caller.keyId,
    });
  }

  @Get('projects/:id/keys')
  @ApiParam({ name: 'id', description: 'project id (UUID)' })
  @Operation('listKeys', { summary: "The project's keys (never their secrets), revoked ones too" })
  async list(@CallerOf() caller: Caller, @Param() params: unknown) {
    const id = ownProject(caller, params);
    return { items: await this.keys.list(id) };
  }

  @Delete('keys/:id')
  @ApiParam({ name: 'id', description: 'key id (UUID)' })
  @Operation('revokeKey', { summary: 'Revoke a key of the project: it stops working at once' })
  @ApiResponse({ status: 200, description: 'The key, revoked' })
  @ApiResponse({ status: 404, description: 'The project has no such key' })
  @ApiResponse({ status: 409, description: 'The key was already revoked' })
  async revoke(@CallerOf() caller: Caller, @Param() params: unknown) {
    const { id } = parseOrThrow(IdParam, params, 'path');
    const revoked = await this.keys.revoke(caller.projectId, id);
    if (!revoked) throw new ApiError(404, 'NOT_FOUND', `no key with id ${id} in this project`);
    if (revoked.already) {
      throw new ApiError(409, 'ALREADY_REVOKED', `key ${id} was already revoked; nothing changed`);
    }
    return revoked.key;
  }
}
