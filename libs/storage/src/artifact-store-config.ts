import { fileURLToPath } from 'node:url';
import type { ArtifactStore } from './artifact-store';
import { LocalArtifactStore } from './local-artifact-store';
import { S3ArtifactStore, type S3ArtifactStoreOptions } from './s3-artifact-store';
import { quote, StorageError } from './storage.errors';

export interface ArtifactStoreConfig {
  /**
   * Where artifacts go, as a URL:
   * - `file:///var/lib/drover/artifacts`: a local directory;
   * - `s3://bucket/optional/prefix?endpoint=http://host:9000&region=us-east-1&forcePathStyle=true`:
   *   a bucket (every parameter optional). Credentials come from the AWS SDK's
   *   chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, an instance
   *   role), never from this URL.
   */
  DROVER_ARTIFACTS?: string;
}

export type ArtifactStoreTarget =
  { kind: 'local'; rootDir: string } | { kind: 's3'; options: S3ArtifactStoreOptions };

const KEY = 'DROVER_ARTIFACTS';
const EXPECTED =
  'file:///absolute/path or s3://bucket[/prefix][?endpoint=&region=&forcePathStyle=]';
const S3_PARAMETERS = ['endpoint', 'region', 'forcePathStyle'] as const;
type S3Parameter = (typeof S3_PARAMETERS)[number];
const SECRET_LIKE = /key|secret|token|credential|password|session/i;

/** The store `config` names; throws INVALID_STORE_CONFIG saying what is wrong. */
export function artifactStoreFrom(config: ArtifactStoreConfig): ArtifactStore {
  const target = parseArtifactStoreUrl(config[KEY]);
  try {
    return target.kind === 'local'
      ? new LocalArtifactStore(target.rootDir)
      : new S3ArtifactStore(target.options);
  } catch (err) {
    if (err instanceof StorageError && err.code === 'INVALID_STORE_CONFIG') {
      throw invalid(err.message);
    }
    throw err;
  }
}

/**
 * Reads a DROVER_ARTIFACTS value. Error messages never repeat the whole value,
 * which could hold a secret put there by mistake.
 */
export function parseArtifactStoreUrl(value: string | undefined): ArtifactStoreTarget {
  if (value === undefined || value === '') throw invalid(`not set; expected ${EXPECTED}`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`not a URL; expected ${EXPECTED}`);
  }
  if (url.protocol === 'file:') return { kind: 'local', rootDir: localRoot(value, url) };
  if (url.protocol === 's3:') return { kind: 's3', options: s3Options(value, url) };
  throw invalid(`unsupported scheme ${quote(url.protocol)}; expected ${EXPECTED}`);
}

function localRoot(value: string, url: URL): string {
  // `file:relative` parses as file:///relative: demand the explicit form.
  if (!/^file:\/\//i.test(value) || (url.host !== '' && url.host !== 'localhost')) {
    throw invalid('a file: URL names a local absolute path, as in file:///var/lib/drover');
  }
  if (url.search !== '' || url.hash !== '') {
    throw invalid('a file: URL takes no query or fragment');
  }
  try {
    return fileURLToPath(url);
  } catch (err) {
    throw invalid(`the file: URL's path is invalid (${(err as Error).message})`);
  }
}

function s3Options(value: string, url: URL): S3ArtifactStoreOptions {
  // The URL parser resolves `a/../b` (and `%2e%2e`) to `b`; in a key prefix they are literal.
  const rawPath = value.replace(/^s3:\/\/[^/?#]*/i, '').split(/[?#]/)[0];
  if (rawPath.split('/').some((segment) => /^(?:\.|%2e){1,2}$/i.test(segment))) {
    throw invalid('the key prefix has "." or ".." segments');
  }
  if (url.username !== '' || url.password !== '') {
    throw invalid(
      'credentials do not belong in the URL; the AWS SDK reads them from its chain ' +
        '(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, an instance role)',
    );
  }
  if (url.port !== '') {
    throw invalid('an s3:// URL names a bucket, not a server; give the server as ?endpoint=');
  }
  if (url.hostname === '') throw invalid('the s3:// URL names no bucket (s3://bucket/prefix)');
  if (url.hash !== '') throw invalid('an s3:// URL takes no fragment');
  const options: S3ArtifactStoreOptions = { bucket: url.hostname };
  const prefix = url.pathname.replace(/^\//, '');
  if (prefix !== '') options.prefix = prefix;
  const seen = new Set<string>();
  for (const [name, value] of url.searchParams) {
    if (!isS3Parameter(name)) {
      throw invalid(
        SECRET_LIKE.test(name)
          ? `parameter ${quote(name)}: credentials do not belong in the URL; the AWS SDK reads them from its chain`
          : `unknown parameter ${quote(name)} (known: ${S3_PARAMETERS.join(', ')})`,
      );
    }
    if (seen.has(name)) throw invalid(`parameter ${name} is given twice`);
    seen.add(name);
    switch (name) {
      case 'endpoint':
        options.endpoint = value;
        break;
      case 'region':
        options.region = value;
        break;
      case 'forcePathStyle':
        if (value !== 'true' && value !== 'false') {
          throw invalid(`forcePathStyle must be true or false, got ${quote(value)}`);
        }
        options.forcePathStyle = value === 'true';
        break;
    }
  }
  return options;
}

function isS3Parameter(name: string): name is S3Parameter {
  return (S3_PARAMETERS as readonly string[]).includes(name);
}

function invalid(message: string): StorageError {
  return new StorageError('INVALID_STORE_CONFIG', `${KEY}: ${message}`);
}
