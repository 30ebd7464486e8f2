import { Readable } from 'node:stream';
import {
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import {
  digestBody,
  type ArtifactMeta,
  type ArtifactStore,
  type StoredArtifact,
} from './artifact-store';
import { checkArtifactName, checkContentType, checkRunId } from './artifact-validation';
import { ArtifactNotFoundError, quote, StorageError } from './storage.errors';

export interface S3ArtifactStoreOptions {
  bucket: string;
  /** Keys are `<prefix>/<runId>/<name>`; slashes around the prefix do not matter. */
  prefix?: string;
  /** An S3-compatible server (`http://host:9000`); AWS itself when absent. */
  endpoint?: string;
  /** Else the SDK's chain (AWS_REGION, the profile ...). */
  region?: string;
  /** `http://host/bucket/key` instead of `http://bucket.host/key` (most S3-compatible servers). */
  forcePathStyle?: boolean;
  /** Else the SDK's default credential chain (environment, profile, web identity, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const PREFIX_SEGMENT = /^[A-Za-z0-9._-]+$/;
const REGION = /^[a-z0-9-]{1,32}$/;

/** Artifacts as objects `<prefix>/<runId>/<name>` in one bucket. */
export class S3ArtifactStore implements ArtifactStore {
  readonly kind = 's3' as const;
  private readonly client: S3Client;
  private readonly bucket: string;
  /** '' or ending with '/'. */
  private readonly prefix: string;

  constructor(options: S3ArtifactStoreOptions) {
    this.bucket = checkBucket(options.bucket);
    this.prefix = normalizePrefix(options.prefix);
    const config: S3ClientConfig = {};
    if (options.endpoint !== undefined) config.endpoint = checkEndpoint(options.endpoint);
    if (options.region !== undefined) config.region = checkRegion(options.region);
    if (options.forcePathStyle !== undefined) config.forcePathStyle = options.forcePathStyle;
    if (options.credentials !== undefined) config.credentials = options.credentials;
    this.client = new S3Client(config);
  }

  async put(
    runId: string,
    name: string,
    body: Buffer | string,
    contentType: string,
  ): Promise<ArtifactMeta> {
    const key = this.key(runId, name);
    checkContentType(contentType);
    const { bytes, size, sha256 } = digestBody(body);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: bytes,
        ContentLength: size,
        ContentType: contentType,
        // S3 checks the bytes it received against our digest.
        ChecksumSHA256: Buffer.from(sha256, 'hex').toString('base64'),
      }),
    );
    return { name, size, sha256, contentType };
  }

  async get(runId: string, name: string): Promise<StoredArtifact> {
    const run = checkRunId(runId);
    const key = this.key(run, name);
    let out: GetObjectCommandOutput;
    try {
      out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (err) {
      if (err instanceof NoSuchKey) throw new ArtifactNotFoundError(run, name);
      throw err;
    }
    if (!(out.Body instanceof Readable) || out.ContentLength === undefined) {
      if (out.Body instanceof Readable) out.Body.destroy();
      throw new StorageError('BACKEND_ERROR', `GET ${key} returned no readable body and length`);
    }
    const contentType = out.ContentType ?? 'application/octet-stream';
    return { meta: { size: out.ContentLength, contentType }, body: out.Body };
  }

  async removeRun(runId: string): Promise<void> {
    const prefix = `${this.prefix}${checkRunId(runId)}/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      const objects = (page.Contents ?? []).flatMap((o) => (o.Key ? [{ Key: o.Key }] : []));
      // A page holds at most 1,000 keys, as many as one DeleteObjects takes.
      if (objects.length > 0) {
        const deleted = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: objects, Quiet: true },
          }),
        );
        const failed = deleted.Errors ?? [];
        if (failed.length > 0) {
          const first = failed[0];
          throw new StorageError(
            'BACKEND_ERROR',
            `could not delete ${failed.length} objects under ${prefix}, ` +
              `first ${first.Key ?? '?'}: ${first.Code ?? '?'} ${first.Message ?? ''}`.trim(),
          );
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** Closes the client's connections. */
  destroy(): void {
    this.client.destroy();
  }

  private key(runId: string, name: string): string {
    return `${this.prefix}${checkRunId(runId)}/${checkArtifactName(name)}`;
  }
}

function invalid(message: string): StorageError {
  return new StorageError('INVALID_STORE_CONFIG', message);
}

function checkBucket(bucket: string): string {
  if (typeof bucket !== 'string' || !BUCKET.test(bucket) || bucket.includes('..')) {
    throw invalid(
      `invalid S3 bucket ${quote(bucket)}: 3-63 characters of a-z 0-9 . -, ` +
        'starting and ending with a letter or digit',
    );
  }
  return bucket;
}

function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined) return '';
  // Slashes at either end do not matter; empty segments in between do.
  const inner = typeof prefix === 'string' ? prefix.replace(/^\/+|\/+$/g, '') : undefined;
  if (inner === '') return '';
  const valid =
    inner !== undefined &&
    inner.length <= 512 &&
    inner.split('/').every((s) => PREFIX_SEGMENT.test(s) && s !== '.' && s !== '..');
  if (!valid) {
    throw invalid(
      `invalid S3 key prefix ${quote(prefix)}: segments of A-Z a-z 0-9 . _ - separated by ` +
        'single slashes, none "." or "..", at most 512 characters',
    );
  }
  return `${inner}/`;
}

function checkEndpoint(endpoint: string): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalid('invalid S3 endpoint: not a URL (expected http://host:port)');
  }
  if (url.username !== '' || url.password !== '') {
    // Not echoed: it holds a secret.
    throw invalid('invalid S3 endpoint: it holds credentials; use the AWS credential chain');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalid(`invalid S3 endpoint ${quote(endpoint)}: expected an http or https URL`);
  }
  return endpoint;
}

function checkRegion(region: string): string {
  if (typeof region !== 'string' || !REGION.test(region)) {
    throw invalid(`invalid S3 region ${quote(region)}: expected a name like us-east-1`);
  }
  return region;
}
